package service

import (
	"cmp"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	"github.com/mvm-exchange/mvm/internal/revocation"
	mvmv1 "github.com/mvm-exchange/mvm/proto/mvm/v1"
)

// Observer receives the service's countable events; package metrics
// implements it. Its methods must be cheap and safe for concurrent use.
type Observer interface {
	// AppendRefused counts a refused append (reason: its gRPC code).
	AppendRefused(reason string)
	// HandshakeRefused counts a refused TLS handshake (see handshakeReason).
	HandshakeRefused(reason string)
	// WatchStreams adds +1 when a Watch stream opens, -1 when it ends.
	WatchStreams(delta int)
}

// RefusalLog bounds the refusal lines one peer can put in the log: Burst
// lines of a kind per Window, for at most Peers peers at once (see
// floodGuard). Zero fields take the defaults.
type RefusalLog struct {
	Burst  int
	Window time.Duration
	Peers  int
}

// SetObserver sends the service's countable events to o. Call it before
// serving.
func (s *Service) SetObserver(o Observer) { s.obs = o }

// SetRefusalLog sets the refusal log's bounds. Call it before serving.
func (s *Service) SetRefusalLog(r RefusalLog) {
	s.flood = newFloodGuard(s.log, cmp.Or(r.Burst, DefaultLogBurst), cmp.Or(r.Window, DefaultLogWindow),
		cmp.Or(r.Peers, DefaultLogPeers))
}

type noObserver struct{}

func (noObserver) AppendRefused(string)    {}
func (noObserver) HandshakeRefused(string) {}
func (noObserver) WatchStreams(int)        {}

// Kinds of refusal lines, each rate-limited per peer on its own.
const (
	kindAppend    = "append"
	kindHandshake = "handshake"
	kindCall      = "call"
)

// peerOf names who a line is about: the caller's SPIFFE identity once
// authenticated, else the remote host (not its port, so that reconnecting
// does not make a new peer).
func peerOf(ctx context.Context) (who, addr string) {
	if p, ok := peer.FromContext(ctx); ok && p.Addr != nil {
		addr = p.Addr.String()
	}
	if c, ok := CallerFrom(ctx); ok {
		return c.ID.String(), addr
	}
	return hostOf(addr), addr
}

func hostOf(addr string) string {
	if h, _, err := net.SplitHostPort(addr); err == nil {
		return h
	}
	return addr
}

// refusedAppend counts and logs an append refused by anything inside it:
// revoked co-signers, the rate limit, the limits, the ledger. It stands
// at the logging interceptor's place in the chain.
func (s *Service) refusedAppend(ctx context.Context, req any, _ *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	resp, err := handler(ctx, req)
	if err != nil {
		s.logRefusedAppend(ctx, err, false)
	}
	return resp, err
}

// logRefusedAppend counts a refused append and logs it, unless its peer
// has already filled its share of the log (floodGuard).
func (s *Service) logRefusedAppend(ctx context.Context, err error, stream bool) {
	st := status.Convert(err)
	reason := st.Code().String()
	s.obs.AppendRefused(reason)
	level := slog.Level(callLevel(st.Code()))
	who, addr := peerOf(ctx)
	if !s.log.Enabled(ctx, level) || !s.flood.allow(kindAppend, who) {
		return
	}
	method := "Append"
	if stream {
		method = "AppendStream"
	}
	s.log.LogAttrs(ctx, level, "append refused",
		slog.String("grpc.service", mvmv1.ExchangeService_ServiceDesc.ServiceName), slog.String("grpc.method", method),
		slog.String("grpc.code", reason), slog.String("peer", who), slog.String("peer.address", addr),
		slog.String("reason", reason), slog.String("error", st.Message()), slog.Bool("stream", stream))
}

// logRefusedHandshake counts a refused TLS handshake and logs it, within
// the remote host's share of the log.
func (s *Service) logRefusedHandshake(remote net.Addr, err error) {
	reason := handshakeReason(err)
	s.obs.HandshakeRefused(reason)
	level := slog.LevelInfo
	if reason == "eof" {
		level = slog.LevelDebug // a TCP probe, or a client that gave up
	}
	ctx := context.Background()
	addr := remote.String()
	if !s.log.Enabled(ctx, level) || !s.flood.allow(kindHandshake, hostOf(addr)) {
		return
	}
	s.log.LogAttrs(ctx, level, "TLS handshake refused", slog.String("peer", hostOf(addr)),
		slog.String("peer.address", addr), slog.String("reason", reason), slog.String("error", err.Error()))
}

// handshakeReason is the reason label of a refused handshake.
func handshakeReason(err error) string {
	var verify *tls.CertificateVerificationError
	switch {
	case errors.As(err, new(*limitError)):
		return "limit" // handshakes.go
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "eof"
	case errors.Is(err, os.ErrDeadlineExceeded):
		return "timeout"
	case errors.As(err, &verify):
		// crypto/tls's own check, against the CAs of every party.
		var unknown x509.UnknownAuthorityError
		var invalid x509.CertificateInvalidError
		switch {
		case errors.As(err, &unknown):
			return "unknown_authority"
		case errors.As(err, &invalid) && invalid.Reason == x509.Expired:
			return "expired" // or not yet valid
		}
		return "invalid_certificate"
	case errors.Is(err, revocation.ErrRevoked):
		return "revoked"
	case strings.Contains(err.Error(), "didn't provide a certificate"):
		return "no_certificate" // crypto/tls has no exported error for it
	case strings.HasPrefix(err.Error(), "tls: "):
		return "tls"
	case errors.As(err, new(*net.OpError)):
		return "network"
	}
	// VerifyPeerCertificate (Service.Authenticate): a certificate the
	// agreement does not accept (another party's CA, no or two identities,
	// another trust domain, a party not in the agreement).
	return "not_authorized"
}
