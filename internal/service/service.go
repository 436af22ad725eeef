// Package service is the gRPC face of the ledger: mutual-TLS
// authentication against the agreement, authorization of reads, mapping of
// refusals to precise gRPC status codes, receipts with inclusion proofs,
// proofs, checkpoints and the live feed.
//
// Guarantees:
//   - No RPC runs without a client certificate that chains to the CA of the
//     party it names in the agreement in force (checked at the TLS handshake
//     and again by the auth interceptor); the gRPC health service is the only
//     exception.
//   - Every refusal carries one of InvalidArgument, PermissionDenied,
//     FailedPrecondition, NotFound, AlreadyExists, ResourceExhausted,
//     Unauthenticated or Unavailable, and the append it refused stored
//     nothing.
package service

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/mvm-exchange/mvm/internal/ledger"
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
}

// Shutdown ends the live feeds (they would otherwise hold a graceful stop
// until their clients leave); watchers get Unavailable and resume
// elsewhere or later from where they were.
func (s *Service) Shutdown() { s.stopOnce.Do(func() { close(s.stop) }) }

// New returns the service over a ledger.
func New(l *ledger.Ledger, logger *slog.Logger, opts Options) *Service {
	if logger == nil {
		logger = slog.Default()
	}
	opts.defaults()
	return &Service{l: l, log: logger, now: time.Now, opts: opts, stop: make(chan struct{})}
}

// TLSConfig returns the server's TLS configuration: TLS 1.3 only, a client
// certificate required, and that certificate verified against the CA of the
// party it names in the agreement in force at handshake time.
func TLSConfig(l *ledger.Ledger, cert tls.Certificate) *tls.Config {
	return &tls.Config{
		MinVersion:   tls.VersionTLS13,
		Certificates: []tls.Certificate{cert},
		ClientAuth:   tls.RequireAnyClientCert,
		VerifyPeerCertificate: func(raw [][]byte, _ [][]*x509.Certificate) error {
			leaf, inter, err := parseChain(raw)
			if err != nil {
				return err
			}
			_, _, err = l.Head().Agreement.Authenticate(leaf, inter, time.Now())
			return err
		},
	}
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
