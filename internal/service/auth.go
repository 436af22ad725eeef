package service

import (
	"context"
	"crypto/x509"
	"log/slog"
	"runtime/debug"

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
	"github.com/mvm-exchange/mvm/internal/identity"
)

// Caller is the authenticated client of a call.
type Caller struct {
	ID          identity.Identity
	Role        agreement.Role
	Certificate *x509.Certificate
}

type callerKey struct{}

// CallerFrom returns the caller stored by the auth interceptor.
func CallerFrom(ctx context.Context) (*Caller, bool) {
	c, ok := ctx.Value(callerKey{}).(*Caller)
	return c, ok
}

// authenticate is the auth interceptor's AuthFunc: it identifies the caller
// from the TLS peer certificate under the agreement in force now. The
// handshake already checked the chain; checking again here catches an
// amendment that removed the party since the connection was opened.
func (s *Service) authenticate(ctx context.Context) (context.Context, error) {
	p, ok := peer.FromContext(ctx)
	if !ok {
		return nil, status.Error(codes.Unauthenticated, "no peer")
	}
	ti, ok := p.AuthInfo.(credentials.TLSInfo)
	if !ok || len(ti.State.PeerCertificates) == 0 {
		return nil, status.Error(codes.Unauthenticated, "a client certificate is required")
	}
	certs := ti.State.PeerCertificates
	ag := s.l.Head().Agreement
	id, party, err := ag.Authenticate(certs[0], certs[1:], s.now())
	if err != nil {
		return nil, status.Error(codes.Unauthenticated, err.Error())
	}
	return context.WithValue(ctx, callerKey{}, &Caller{ID: id, Role: party.Role, Certificate: certs[0]}), nil
}

// needsAuth excludes the health service, which load balancers and
// supervisors call without an identity of the agreement.
func needsAuth(_ context.Context, c interceptors.CallMeta) bool {
	return c.Service != healthpb.Health_ServiceDesc.ServiceName
}

// ServerOptions returns the interceptor chains: recovery outermost, then
// authentication (health excluded), structured logging, the per-identity
// append rate limit, and a default deadline for unary calls without one.
func (s *Service) ServerOptions() []grpc.ServerOption {
	logger := logging.LoggerFunc(func(ctx context.Context, lvl logging.Level, msg string, fields ...any) {
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
		logging.UnaryServerInterceptor(logger, logOpts...),
	}
	if s.opts.AppendRate > 0 {
		limiter := newAppendLimiter(s.opts.AppendRate, s.opts.AppendBurst)
		unary = append(unary, selector.UnaryServerInterceptor(ratelimit.UnaryServerInterceptor(limiter), selector.MatchFunc(isAppend)))
	}
	unary = append(unary, defaultDeadline(s.opts.CallTimeout))
	return []grpc.ServerOption{
		grpc.ChainUnaryInterceptor(unary...),
		grpc.ChainStreamInterceptor(
			recovery.StreamServerInterceptor(onPanic),
			selector.StreamServerInterceptor(auth.StreamServerInterceptor(s.authenticate), match),
			logging.StreamServerInterceptor(logger, logOpts...),
		),
	}
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

func callerFields(ctx context.Context) logging.Fields {
	if c, ok := CallerFrom(ctx); ok {
		return logging.Fields{"caller", c.ID.String()}
	}
	return nil
}
