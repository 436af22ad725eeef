// Package server wires a running exchange: the store, the ledger, the gRPC
// service and its TLS listener. The server binary is flags around [Start];
// tests start the same thing in-process on a loopback port.
package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/mod/sumdb/note"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/health"
	"google.golang.org/grpc/keepalive"

	"github.com/mvm-exchange/mvm/internal/ledger"
	"github.com/mvm-exchange/mvm/internal/service"
	"github.com/mvm-exchange/mvm/internal/store"
)

// Config is what a server needs. Paths default to files in CertsDir.
type Config struct {
	Listen   string // default 127.0.0.1:7443
	DB       string // default data/mvm.db
	CertsDir string // default certs
	// TLSCert, TLSKey: the server's certificate (default CertsDir/server.crt/.key).
	TLSCert, TLSKey string
	// LogKey: the checkpoint signing key, note skey text (default CertsDir/log.key).
	LogKey string
	// Agreement: the genesis agreement envelope, used on an empty log
	// (default CertsDir/agreement.envelope).
	Agreement string
	Logger    *slog.Logger
	// MaxBatch bounds a group commit (0: the ledger's default).
	MaxBatch int
	// Limits of the service (rate limit, default deadline).
	Limits service.Options
	// ClockSkew is how far an author's timestamp may be from the server's
	// clock (default 5 minutes).
	ClockSkew time.Duration
	// MaxStreams bounds concurrent calls per connection (default 256).
	MaxStreams uint32
}

func (c *Config) defaults() {
	if c.Listen == "" {
		c.Listen = "127.0.0.1:7443"
	}
	if c.DB == "" {
		c.DB = filepath.Join("data", "mvm.db")
	}
	if c.CertsDir == "" {
		c.CertsDir = "certs"
	}
	def := func(p *string, name string) {
		if *p == "" {
			*p = filepath.Join(c.CertsDir, name)
		}
	}
	def(&c.TLSCert, "server.crt")
	def(&c.TLSKey, "server.key")
	def(&c.LogKey, "log.key")
	def(&c.Agreement, "agreement.envelope")
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
}

// Server is a running exchange.
type Server struct {
	cfg    Config
	lis    net.Listener
	grpc   *grpc.Server
	health *health.Server
	svc    *service.Service
	ledger *ledger.Ledger
	store  *store.Store
	served chan error
}

// Start opens the database, recovers or creates the log, and starts serving.
func Start(cfg Config) (*Server, error) {
	cfg.defaults()
	cert, err := tls.LoadX509KeyPair(cfg.TLSCert, cfg.TLSKey)
	if err != nil {
		return nil, fmt.Errorf("server certificate: %w (run scripts/gen-certs.sh)", err)
	}
	skey, err := os.ReadFile(cfg.LogKey)
	if err != nil {
		return nil, fmt.Errorf("log signing key: %w (run scripts/gen-certs.sh)", err)
	}
	signer, err := note.NewSigner(strings.TrimSpace(string(skey)))
	if err != nil {
		return nil, fmt.Errorf("log signing key %s: %w", cfg.LogKey, err)
	}
	genesis, err := os.ReadFile(cfg.Agreement)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("agreement: %w", err)
	}
	st, err := store.Open(cfg.DB, store.Options{})
	if err != nil {
		return nil, err
	}
	l, err := ledger.Open(ledger.Config{Store: st, Signer: signer, Genesis: genesis, Logger: cfg.Logger,
		MaxBatch: cfg.MaxBatch, ClockSkew: cfg.ClockSkew})
	if err != nil {
		st.Close()
		if errors.Is(err, ledger.ErrNoGenesis) {
			return nil, fmt.Errorf("%w: %s is missing (run scripts/gen-certs.sh)", err, cfg.Agreement)
		}
		return nil, err
	}
	lis, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		l.Close()
		st.Close()
		return nil, err
	}
	svc := service.New(l, cfg.Logger, cfg.Limits)
	if cfg.MaxStreams == 0 {
		cfg.MaxStreams = 256
	}
	opts := append(svc.ServerOptions(),
		grpc.Creds(credentials.NewTLS(service.TLSConfig(l, cert))),
		grpc.MaxRecvMsgSize(1<<20),
		grpc.MaxConcurrentStreams(cfg.MaxStreams),
		// Clients may ping at most every 10s; idle connections are closed
		// after 15 minutes and dead ones detected within a minute.
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: 10 * time.Second, PermitWithoutStream: true}),
		grpc.KeepaliveParams(keepalive.ServerParameters{MaxConnectionIdle: 15 * time.Minute, Time: 30 * time.Second, Timeout: 20 * time.Second}),
		grpc.ConnectionTimeout(10*time.Second),
	)
	g := grpc.NewServer(opts...)
	s := &Server{cfg: cfg, lis: lis, grpc: g, svc: svc, ledger: l, store: st, served: make(chan error, 1)}
	s.health = svc.Register(g)
	go func() { s.served <- g.Serve(lis) }()
	h := l.Head()
	cfg.Logger.Info("serving", "addr", lis.Addr().String(), "db", cfg.DB, "size", h.Size, "origin", l.Origin())
	return s, nil
}

// Addr is the address the server listens on.
func (s *Server) Addr() string { return s.lis.Addr().String() }

// Ledger returns the server's ledger.
func (s *Server) Ledger() *ledger.Ledger { return s.ledger }

// Stop stops gracefully: no new calls, in-flight calls finish (bounded by
// ctx), the writer finishes its batch, and the database is closed.
func (s *Server) Stop(ctx context.Context) error {
	s.health.Shutdown()
	s.svc.Shutdown()
	done := make(chan struct{})
	go func() { s.grpc.GracefulStop(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		s.grpc.Stop()
	}
	s.ledger.Close()
	return s.store.Close()
}

// Wait returns when the gRPC server stops serving.
func (s *Server) Wait() error { return <-s.served }

// RebuildIndexes recomputes the indexes of a database file from its
// entries. The server must not be running on it.
func RebuildIndexes(db string) error {
	st, err := store.Open(db, store.Options{})
	if err != nil {
		return err
	}
	if err := ledger.RebuildIndexes(st); err != nil {
		st.Close()
		return err
	}
	return st.Close()
}
