package server

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/reflection"

	"github.com/mvm-exchange/mvm/internal/ledger"
	"github.com/mvm-exchange/mvm/internal/metrics"
	"github.com/mvm-exchange/mvm/internal/service"
)

// newMetrics returns the server's metrics, nil without Config.Metrics.
func newMetrics(cfg Config) *metrics.Metrics {
	if cfg.Metrics == "" {
		return nil
	}
	return metrics.New()
}

// committedHook is the ledger's commit hook for m (nil: none).
func committedHook(m *metrics.Metrics) func(int, time.Duration) {
	if m == nil {
		return nil
	}
	return m.Committed
}

// observe connects the service and the ledger to the metrics and sets
// the refusal log's bounds.
func observe(svc *service.Service, l *ledger.Ledger, m *metrics.Metrics, r service.RefusalLog) {
	svc.SetRefusalLog(r)
	if m != nil {
		svc.SetObserver(m)
		m.TreeSize(func() uint64 { return l.Head().Size })
		m.ClockBehind(l.ClockBehind)
	}
}

// metricsOptions puts the gRPC metrics first in the interceptor chains.
func metricsOptions(m *metrics.Metrics) []grpc.ServerOption {
	if m == nil {
		return nil
	}
	return m.ServerOptions()
}

// listenMetrics binds Config.Metrics, before anything serves, so that a
// bad address fails Start.
func (s *Server) listenMetrics() error {
	if s.metrics == nil {
		return nil
	}
	lis, err := net.Listen("tcp", s.cfg.Metrics)
	if err != nil {
		return fmt.Errorf("--metrics: %w", err)
	}
	s.metricsLis = lis
	return nil
}

// serveExtras registers the optional services on g (reflection) and
// starts serving metrics over plain HTTP on /metrics.
func (s *Server) serveExtras(g *grpc.Server) {
	if s.cfg.Reflection {
		// Behind the same interceptors as every service: only an
		// authenticated party of the agreement may list the services.
		reflection.Register(g)
	}
	if s.metrics == nil {
		return
	}
	s.metrics.InitializeMetrics(g)
	mux := http.NewServeMux()
	mux.Handle("/metrics", s.metrics.Handler())
	s.metricsSrv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := s.metricsSrv.Serve(s.metricsLis); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.cfg.Logger.Error("metrics server stopped", "addr", s.metricsLis.Addr().String(), "err", err)
		}
	}()
}

// MetricsAddr is the address metrics are served on ("" without them).
func (s *Server) MetricsAddr() string {
	if s.metricsLis == nil {
		return ""
	}
	return s.metricsLis.Addr().String()
}

// stopMetrics stops serving metrics.
func (s *Server) stopMetrics() {
	if s.metricsSrv != nil {
		s.metricsSrv.Close()
	} else if s.metricsLis != nil {
		s.metricsLis.Close()
	}
}
