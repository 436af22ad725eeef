// Package service is the gRPC face of the ledger: mutual-TLS
// authentication against the agreement, authorization of reads, mapping of
// refusals to precise gRPC status codes, receipts with inclusion proofs,
// proofs, checkpoints and the live feed.
//
// Guarantees:
//   - No RPC runs without a client certificate that chains to the CA of the
//     party it names in the agreement in force and that no CRL in force
//     revokes (checked at the TLS handshake and again by the auth
//     interceptor on every call, and on every message a stream sends); the
//     gRPC health service is the only exception.
//   - Every refusal carries one of InvalidArgument, PermissionDenied,
//     FailedPrecondition, NotFound, AlreadyExists, ResourceExhausted,
//     Unauthenticated or Unavailable (reads of entries, proofs or
//     checkpoints beyond the log's size: OutOfRange), and the append it
//     refused stored nothing.
//   - Refusals cannot flood the log: each peer gets at most
//     [RefusalLog].Burst refusal lines of a kind per window, then one
//     summary line with the count, and at most [RefusalLog].Peers peers are
//     tracked (floodlog.go); every refusal is still counted ([Observer]).
package service

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/mvm-exchange/mvm/internal/agreement"
	"github.com/mvm-exchange/mvm/internal/identity"
	"github.com/mvm-exchange/mvm/internal/ledger"
	"github.com/mvm-exchange/mvm/internal/revocation"
	mvmv1 "github.com/mvm-exchange/mvm/proto/mvm/v1"
)

// Service implements mvmv1.ExchangeServiceServer.
type Service struct {
	mvmv1.UnimplementedExchangeServiceServer
	l    *ledger.Ledger
	log  *slog.Logger
	now  func() time.Time
	opts Options

	stop     chan struct{}
	stopOnce sync.Once

	// crls are the revocation lists in force (nil: none).
	crls atomic.Pointer[revocation.Set]
	// clientCAs is the TLS configuration for the agreement in force.
	clientCAs atomic.Pointer[clientCAConfig]
	// limiter is the per-identity append rate limit (nil: none).
	limiter *appendLimiter
	// streams, reads and conns are the limits on what one identity or
	// party has at once (limiter.go): read streams, paged reads in
	// progress (reads.go), connections (conns.go).
	streams *limiter
	reads   readLimits
	conns   *connLimiter
	// handshakes bounds the TLS handshakes in progress (handshakes.go).
	handshakes handshakeLimits

	// senders send the answers of append streams, one per connection
	// (replies.go).
	sendersMu sync.Mutex
	senders   map[string]*connSender

	obs   Observer    // metrics (refusals.go)
	flood *floodGuard // bounds the refusal lines per peer

	ev *evidenceState // evidence files (evidence*.go); nil: none
	// node, if set, makes this a mediator node's service (node.go).
	node *Node
}

// Shutdown ends the live feeds (they would otherwise hold a graceful stop
// until their clients leave); watchers get Unavailable and resume
// elsewhere or later from where they were. The refusal log's pending
// summaries are written.
func (s *Service) Shutdown() { s.stopOnce.Do(func() { close(s.stop); s.flood.flush() }) }

// New returns the service over a ledger.
func New(l *ledger.Ledger, logger *slog.Logger, opts Options) *Service {
	if logger == nil {
		logger = slog.Default()
	}
	opts.defaults()
	s := &Service{l: l, log: logger, now: time.Now, opts: opts, stop: make(chan struct{}), senders: map[string]*connSender{},
		streams: newLimiter(limit{what: "read streams open", per: "identity", flag: "--max-streams-per-identity",
			max: opts.MaxStreamsPerIdentity, advice: "end one first"}),
		reads: newReadLimits(opts), conns: newConnLimiter(opts.MaxConnsPerIdentity), handshakes: newHandshakeLimits(opts),
		obs: noObserver{}}
	s.SetRefusalLog(RefusalLog{})
	if opts.AppendRate > 0 {
		s.limiter = newAppendLimiter(opts.AppendRate, opts.AppendBurst)
	}
	return s
}

// SetRevocations puts a set of verified CRLs in force (nil: none). Every
// later handshake, call and stream message checks against it, on
// connections opened before as well.
func (s *Service) SetRevocations(set *revocation.Set) { s.crls.Store(set) }

// Revocations returns the CRLs in force.
func (s *Service) Revocations() *revocation.Set { return s.crls.Load() }

// Authenticate accepts a client certificate if it chains to the CA of the
// party it names under the agreement in force, at time at, and no CRL in
// force revokes it. The agreement caches chain verifications; revocation
// is checked after it, every time, so a cached verification never lets a
// revoked certificate through.
func (s *Service) Authenticate(leaf *x509.Certificate, intermediates []*x509.Certificate, at time.Time) (identity.Identity, *agreement.Party, error) {
	id, party, err := s.l.Head().Agreement.Authenticate(leaf, intermediates, at)
	if err != nil {
		return id, nil, err
	}
	if err := s.crls.Load().Check(leaf, id.String()); err != nil {
		return id, nil, err
	}
	return id, party, nil
}

// clientCAConfig is the handshake configuration for one agreement.
type clientCAConfig struct {
	ag  *agreement.Agreement
	cfg *tls.Config
}

// TLSConfig returns the server's TLS configuration: TLS 1.3 only; the
// server's own certificate from getCert at each handshake (so that it can
// be replaced without a restart); and a client certificate required,
// verified in two steps. crypto/tls first verifies it against the CAs of
// every party of the agreement in force, so that an expired or not yet
// valid certificate is refused with the TLS alert "expired certificate"
// and one from an unknown CA with "unknown certificate authority". Then
// [Service.Authenticate] requires the CA of the very party it names and
// checks the CRLs in force (refused with "bad certificate"). The
// certificate request names those CAs, so a client holding no certificate
// from one of them sends none ("certificate required").
func (s *Service) TLSConfig(getCert func(*tls.ClientHelloInfo) (*tls.Certificate, error)) *tls.Config {
	base := &tls.Config{
		MinVersion:     tls.VersionTLS13,
		GetCertificate: getCert,
		ClientAuth:     tls.RequireAndVerifyClientCert,
		ClientCAs:      x509.NewCertPool(),
		VerifyPeerCertificate: func(raw [][]byte, _ [][]*x509.Certificate) error {
			leaf, inter, err := parseChain(raw)
			if err != nil {
				return err
			}
			_, _, err = s.Authenticate(leaf, inter, s.now())
			return err
		},
	}
	base.GetConfigForClient = func(*tls.ClientHelloInfo) (*tls.Config, error) {
		ag := s.l.Head().Agreement
		if c := s.clientCAs.Load(); c != nil && c.ag == ag {
			return c.cfg, nil
		}
		cfg := base.Clone()
		cfg.GetConfigForClient = nil
		cfg.ClientCAs = x509.NewCertPool()
		for _, p := range ag.Parties() {
			for _, ca := range p.CAs {
				cfg.ClientCAs.AddCert(ca)
			}
		}
		s.clientCAs.Store(&clientCAConfig{ag: ag, cfg: cfg})
		return cfg, nil
	}
	return base
}

// Credentials are the gRPC transport credentials of [Service.TLSConfig].
// A refused handshake is logged with its reason (the client only gets a
// TLS alert).
func (s *Service) Credentials(getCert func(*tls.ClientHelloInfo) (*tls.Certificate, error)) credentials.TransportCredentials {
	return loggedCreds{credentials.NewTLS(s.TLSConfig(getCert)), s}
}

type loggedCreds struct {
	credentials.TransportCredentials
	s *Service
}

func (c loggedCreds) ServerHandshake(conn net.Conn) (net.Conn, credentials.AuthInfo, error) {
	release, err := c.s.handshakes.admit(conn, time.Now())
	if err != nil {
		c.s.logRefusedHandshake(conn.RemoteAddr(), err)
		conn.Close()
		return nil, nil, err
	}
	defer release()
	lc := &lingerConn{Conn: conn}
	out, info, err := c.TransportCredentials.ServerHandshake(lc)
	if err != nil {
		c.s.logRefusedHandshake(conn.RemoteAddr(), err)
		return out, info, err
	}
	lc.established.Store(true)
	return c.s.conns.admit(out, info), info, nil
}

func (c loggedCreds) Clone() credentials.TransportCredentials {
	return loggedCreds{c.TransportCredentials.Clone(), c.s}
}

// lingerConn is a connection in its TLS handshake. If it is closed before
// the handshake succeeded (a refusal), it first reads and discards what the
// client still sends, for a moment. With TLS 1.3 the client has finished
// its side of the handshake and sent its first data when the server refuses
// its certificate; closing at once with that data unread makes the kernel
// reset the connection, and the reset can overtake the TLS alert, leaving
// the client with "broken pipe" instead of the reason. Draining lets the
// client read the alert and close first.
type lingerConn struct {
	net.Conn
	established atomic.Bool
}

const lingerTime = 250 * time.Millisecond

func (c *lingerConn) Close() error {
	if !c.established.Load() && c.Conn.SetReadDeadline(time.Now().Add(lingerTime)) == nil {
		_, _ = io.CopyN(io.Discard, c.Conn, 64<<10)
	}
	return c.Conn.Close()
}

// SyscallConn exposes the socket, as the plain connection would.
func (c *lingerConn) SyscallConn() (syscall.RawConn, error) {
	if sc, ok := c.Conn.(syscall.Conn); ok {
		return sc.SyscallConn()
	}
	return nil, errors.ErrUnsupported
}

func parseChain(raw [][]byte) (*x509.Certificate, []*x509.Certificate, error) {
	if len(raw) == 0 {
		return nil, nil, errors.New("no client certificate")
	}
	certs := make([]*x509.Certificate, len(raw))
	for i, der := range raw {
		c, err := x509.ParseCertificate(der)
		if err != nil {
			return nil, nil, fmt.Errorf("client certificate %d: %w", i, err)
		}
		certs[i] = c
	}
	return certs[0], certs[1:], nil
}

// Register registers the exchange and health services on s.
func (s *Service) Register(g *grpc.Server) *health.Server {
	mvmv1.RegisterExchangeServiceServer(g, s)
	hs := health.NewServer()
	healthpb.RegisterHealthServer(g, hs)
	hs.SetServingStatus(mvmv1.ExchangeService_ServiceDesc.ServiceName, healthpb.HealthCheckResponse_SERVING)
	return hs
}
