package service

import (
	"context"
	"crypto/x509"
	"log/slog"
	"runtime/debug"
	"time"

	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors"
	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/auth"
	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/logging"
	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/ratelimit"
	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/recovery"
	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/selector"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	"github.com/mvm-exchange/mvm/internal/agreement"
	"github.com/mvm-exchange/mvm/internal/envelope"
	"github.com/mvm-exchange/mvm/internal/identity"
	"github.com/mvm-exchange/mvm/internal/message"
	"github.com/mvm-exchange/mvm/internal/revocation"
	mvmv1 "github.com/mvm-exchange/mvm/proto/mvm/v1"
)

// Caller is the authenticated client of a call.
type Caller struct {
	ID          identity.Identity
	Role        agreement.Role
	Certificate *x509.Certificate

	intermediates []*x509.Certificate
}

type callerKey struct{}

// CallerFrom returns the caller stored by the auth interceptor.
func CallerFrom(ctx context.Context) (*Caller, bool) {
	c, ok := ctx.Value(callerKey{}).(*Caller)
	return c, ok
}

// authenticate is the auth interceptor's AuthFunc: it identifies the caller
// from the TLS peer certificate under the agreement and the CRLs in force
// now. The handshake already checked the chain; checking again here catches,
// on a connection opened before, an amendment that removed the party, a
// revocation loaded since, and a certificate that has expired since.
func (s *Service) authenticate(ctx context.Context) (context.Context, error) {
	p, ok := peer.FromContext(ctx)
	if !ok {
		return nil, status.Error(codes.Unauthenticated, "no peer")
	}
	ti, ok := p.AuthInfo.(credentials.TLSInfo)
	if !ok || len(ti.State.PeerCertificates) == 0 {
		return nil, status.Error(codes.Unauthenticated, "a client certificate is required")
	}
	if err := s.conns.refused(p.Addr); err != nil {
		return nil, err
	}
	certs := ti.State.PeerCertificates
	id, party, err := s.Authenticate(certs[0], certs[1:], s.now())
	if err != nil {
		return nil, status.Error(codes.Unauthenticated, err.Error())
	}
	return context.WithValue(ctx, callerKey{}, &Caller{ID: id, Role: party.Role, Certificate: certs[0],
		intermediates: certs[1:]}), nil
}

// recheckStream wraps an authenticated server stream so that every message
// it sends checks the caller again: a live feed opened before a revocation
// (or before its certificate expired, or before an amendment removed its
// party) ends with Unauthenticated at its next message.
func (s *Service) recheckStream(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	c, ok := CallerFrom(ss.Context())
	if !ok {
		return handler(srv, ss)
	}
	return handler(srv, &recheckedStream{ServerStream: ss, s: s, c: c})
}

// refuseRevokedSigners refuses an appended agreement amendment that carries
// a signature by a revoked certificate: its co-signers are identities too,
// and the audit fails such an entry. The peer itself was checked by
// authenticate. It costs nothing without CRLs, and one envelope parse per
// append with them.
func (s *Service) refuseRevokedSigners(ctx context.Context, req any, _ *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	if r, ok := req.(*mvmv1.AppendRequest); ok {
		if err := s.checkRevokedSigners(r.Envelope); err != nil {
			return nil, err
		}
	}
	return handler(ctx, req)
}

// checkRevokedSigners refuses an agreement envelope carrying a signature
// by a certificate a CRL in force revokes (PermissionDenied).
func (s *Service) checkRevokedSigners(raw []byte) error {
	crls := s.crls.Load()
	if crls.Entries() == 0 {
		return nil
	}
	env, err := envelope.Parse(raw)
	if err != nil || env.PayloadType != message.TypeAgreement {
		return nil // the ledger refuses or admits it
	}
	for i, sig := range env.Signatures {
		c, err := x509.ParseCertificate(sig.Certificate)
		if err != nil {
			continue // the agreement's own checks refuse it
		}
		who := c.Subject.CommonName
		if id, err := identity.Parse(c); err == nil {
			who = id.String()
		}
		if err := crls.Check(c, who); err != nil {
			return status.Errorf(codes.PermissionDenied, "signature %d: %v", i, err)
		}
	}
	return nil
}

type recheckedStream struct {
	grpc.ServerStream
	s *Service
	c *Caller
	// What the last check was made under: it is repeated only when one
	// of them changed, or when the certificate's validity ended.
	ag    *agreement.Agreement
	crls  *revocation.Set
	until time.Time
}

func (r *recheckedStream) SendMsg(m any) error {
	ag, crls, now := r.s.l.Head().Agreement, r.s.crls.Load(), r.s.now()
	if ag != r.ag || crls != r.crls || !now.Before(r.until) {
		if _, _, err := r.s.Authenticate(r.c.Certificate, r.c.intermediates, now); err != nil {
			return status.Error(codes.Unauthenticated, err.Error())
		}
		r.ag, r.crls, r.until = ag, crls, r.c.Certificate.NotAfter
	}
	return r.ServerStream.SendMsg(m)
}

// needsAuth excludes the health service, which load balancers and
// supervisors call without an identity of the agreement. Everything else,
// the reflection service (server --reflection) included, needs one.
func needsAuth(_ context.Context, c interceptors.CallMeta) bool {
	return c.Service != healthpb.Health_ServiceDesc.ServiceName
}

// ServerOptions returns the interceptor chains: recovery outermost, then
// authentication (health excluded), structured logging, the per-identity
// append rate limit, and a default deadline for unary calls without one.
func (s *Service) ServerOptions() []grpc.ServerOption {
	logger := logging.LoggerFunc(func(ctx context.Context, lvl logging.Level, msg string, fields ...any) {
		// Refused and failed calls are rate-limited per peer; successful
		// ones are logged at debug level only. Refused appends have their
		// own line (refusedAppend).
		if lvl > logging.LevelDebug {
			if m, _ := grpc.Method(ctx); m == mvmv1.ExchangeService_Append_FullMethodName {
				return
			}
			if who, _ := peerOf(ctx); !s.log.Enabled(ctx, slog.Level(lvl)) || !s.flood.allow(kindCall, who) {
				return
			}
		}
		s.log.Log(ctx, slog.Level(lvl), msg, fields...)
	})
	logOpts := []logging.Option{
		logging.WithLogOnEvents(logging.FinishCall),
		logging.WithFieldsFromContext(callerFields),
		logging.WithLevels(callLevel),
	}
	onPanic := recovery.WithRecoveryHandlerContext(func(ctx context.Context, p any) error {
		s.log.ErrorContext(ctx, "panic in handler", "panic", p, "stack", string(debug.Stack()))
		return status.Error(codes.Internal, "internal error")
	})
	match := selector.MatchFunc(needsAuth)
	unary := []grpc.UnaryServerInterceptor{
		recovery.UnaryServerInterceptor(onPanic),
		selector.UnaryServerInterceptor(auth.UnaryServerInterceptor(s.authenticate), match),
		selector.UnaryServerInterceptor(logging.UnaryServerInterceptor(logger, logOpts...), selector.MatchFunc(s.logsCall)),
		selector.UnaryServerInterceptor(s.refuseWriteUnary, selector.MatchFunc(s.isWriteOnNode)),
		selector.UnaryServerInterceptor(s.refusedAppend, selector.MatchFunc(isAppend)),
		selector.UnaryServerInterceptor(s.refuseRevokedSigners, selector.MatchFunc(isAppend)),
	}
	if s.limiter != nil {
		unary = append(unary, selector.UnaryServerInterceptor(ratelimit.UnaryServerInterceptor(s.limiter), selector.MatchFunc(isAppend)))
	}
	unary = append(unary, defaultDeadline(s.opts.CallTimeout),
		selector.UnaryServerInterceptor(s.limitReads, selector.MatchFunc(isUnaryRead)))
	return []grpc.ServerOption{
		forceCodec(),
		grpc.ChainUnaryInterceptor(unary...),
		grpc.ChainStreamInterceptor(
			recovery.StreamServerInterceptor(onPanic),
			selector.StreamServerInterceptor(auth.StreamServerInterceptor(s.authenticate), match),
			selector.StreamServerInterceptor(s.recheckStream, match),
			logging.StreamServerInterceptor(logger, logOpts...),
			selector.StreamServerInterceptor(s.refuseWriteStream, selector.MatchFunc(s.isWriteOnNode)),
			selector.StreamServerInterceptor(s.limitReadStreams, match),
			selector.StreamServerInterceptor(s.countWatch, selector.MatchFunc(isWatch)),
		),
	}
}

// logsCall says whether the logging interceptor runs for a call. Appends
// are the hot path: the interceptor's fields cost ~10 µs an append, spent
// for nothing when successful calls are not logged, so below debug level
// appends are logged only by refusedAppend, when refused.
func (s *Service) logsCall(ctx context.Context, c interceptors.CallMeta) bool {
	return !isAppend(ctx, c) || s.log.Enabled(ctx, slog.LevelDebug)
}

// countWatch counts the Watch streams open.
func (s *Service) countWatch(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	s.obs.WatchStreams(1)
	defer s.obs.WatchStreams(-1)
	return handler(srv, ss)
}

func isWatch(_ context.Context, c interceptors.CallMeta) bool {
	return c.FullMethod() == mvmv1.ExchangeService_Watch_FullMethodName
}

// callLevel logs successful calls at debug level: at thousands of appends a
// second a line per call costs more than the append. Refusals stay at info,
// server faults at error.
func callLevel(c codes.Code) logging.Level {
	switch c {
	case codes.OK, codes.Canceled:
		return logging.LevelDebug
	case codes.Internal, codes.Unknown, codes.DataLoss, codes.Unimplemented:
		return logging.LevelError
	case codes.Unavailable, codes.DeadlineExceeded, codes.ResourceExhausted:
		return logging.LevelWarn
	}
	return logging.LevelInfo
}

// callerFields names the peer of every call line (peerOf).
func callerFields(ctx context.Context) logging.Fields {
	who, _ := peerOf(ctx)
	return logging.Fields{"peer", who}
}
