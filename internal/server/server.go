// Package server wires a running exchange: the store, the ledger, the gRPC
// service and its TLS listener. The server binary is flags around [Start];
// tests start the same thing in-process on a loopback port.
package server

import (
	"cmp"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/mod/sumdb/note"
	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	"google.golang.org/grpc/keepalive"

	"github.com/mvm-exchange/mvm/internal/ledger"
	"github.com/mvm-exchange/mvm/internal/metrics"
	"github.com/mvm-exchange/mvm/internal/node"
	"github.com/mvm-exchange/mvm/internal/revocation"
	"github.com/mvm-exchange/mvm/internal/service"
	"github.com/mvm-exchange/mvm/internal/store"
	"github.com/mvm-exchange/mvm/internal/tlog"
	"github.com/mvm-exchange/mvm/internal/witness"
)

// Config is what a server needs. Paths default to files in CertsDir.
type Config struct {
	Listen   string // default 127.0.0.1:7443
	DB       string // default data/mvm.db
	CertsDir string // default certs
	// TLSCert, TLSKey: the server's TLS certificate and key, given both or
	// neither (server --tls-cert, --tls-key). Default: the primary's,
	// CertsDir/server.crt/.key; a node's (Node.Follow set), its own,
	// CertsDir/<Node.As>-server.crt/.key (devpki.NodeServerName), never
	// the primary's: whoever holds the primary's key can pose as the
	// primary to clients and to the nodes' witness endpoints.
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
	// MaxStreams bounds concurrent calls per connection (default 256).
	MaxStreams uint32
	// CRLs are the parties' certificate revocation lists: X.509 CRL files,
	// DER or PEM, each signed by the CA of a party of the agreement (a file
	// named crl-<party>.pem must be that party's). nil: CertsDir/crl-<party>.pem
	// for each party of the agreement in force, those that exist (looked
	// for again at each reload). An invalid CRL is an error at Start and a
	// logged warning at a reload, which keeps the one in force.
	CRLs []string
	// ReloadInterval is how often the server's certificate and key and the
	// CRL files are checked for changes, which reloads them (see
	// [Server.Reload]). 0: DefaultReloadInterval; negative: never (Reload
	// or SIGHUP only).
	ReloadInterval time.Duration
	// Operators are the SPIFFE URIs of the identities that may call the
	// admin RPCs (Backup), spiffe://<trust-domain>/party/<party>/<name>.
	// Each must still authenticate as a party identity of the agreement.
	// None by default: the admin RPCs are refused to everyone.
	Operators []string
	// Metrics, if set, is the address to serve Prometheus metrics on,
	// plain HTTP at /metrics (loopback or an operator network).
	Metrics string
	// Reflection turns on the gRPC reflection service (behind mTLS).
	Reflection bool
	// RefusalLog bounds the refusal lines one peer can log.
	RefusalLog service.RefusalLog
	// Commit, if set, stands between the ledger and the store: it gets
	// each batch to log and the store's commit, and returns what the
	// ledger sees (tests make a commit fail). nil: the store commits.
	Commit func(b *store.Batch, commit func(*store.Batch) error) error
	// Witnesses are where to reach the C2SP witnesses the agreement
	// lists (server --witness NAME=URL); each new checkpoint is pushed
	// to each, off the append path (package witness).
	Witnesses []witness.Target
	// WitnessInterval, WitnessBackoff and WitnessTimeout tune the pushes
	// (0: witness.Pusher's defaults, 250ms, 1s and 10s).
	WitnessInterval, WitnessBackoff, WitnessTimeout time.Duration
	// Evidence: where evidence files are kept, and their limits (evidence.go).
	Evidence EvidenceConfig
	// SyncWitnesses, if positive, holds every receipt until that many of
	// the Witnesses have cosigned a checkpoint covering its entry, for at
	// most SyncTimeout (default 5s); see sync.go.
	SyncWitnesses int
	SyncTimeout   time.Duration
	// Node, with Node.Follow set, makes this server a mediator node that
	// follows a primary (node.go).
	Node NodeConfig
}

// DefaultReloadInterval is the default [Config.ReloadInterval].
const DefaultReloadInterval = 5 * time.Second

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
	tlsName := "server"
	if c.Node.Follow != "" {
		tlsName = nodeServerName(c.Node.As)
	}
	def(&c.TLSCert, tlsName+".crt")
	def(&c.TLSKey, tlsName+".key")
	def(&c.LogKey, "log.key")
	def(&c.Agreement, "agreement.envelope")
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.ReloadInterval == 0 {
		c.ReloadInterval = DefaultReloadInterval
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

	metrics    *metrics.Metrics // nil without Config.Metrics (observe.go)
	metricsLis net.Listener
	metricsSrv *http.Server

	// cert is the server's TLS certificate in force.
	cert atomic.Pointer[tls.Certificate]
	// reloadMu serializes reloads; crlFiles is the CRL in force per file.
	reloadMu sync.Mutex
	crlFiles map[string]*revocation.CRL
	// The file watcher: closing watchStop ends it, then watchDone closes.
	watchStop, watchDone chan struct{}
	stopOnce             sync.Once
	stopWitnesses        func()
	replicas             *witness.Replicas // nil without SyncWitnesses
	heldLogged           atomic.Int64      // unix nanos of the last held receipt logged
	// follower copies the primary's log (a node; nil for a primary), and
	// stopFollower ends it (node.go).
	follower     *node.Follower
	stopFollower func()
	// evCopier copies a node's evidence files (node_evidence.go).
	evCopier atomic.Pointer[node.EvidenceCopier]
	// witnessAddr is where a node serves its witness endpoint.
	witnessAddr string
}

// Start binds its port, opens the database (checked before bbolt reads it,
// see store.Open), recovers its log or begins one in a file it created,
// and starts serving.
func Start(cfg Config) (*Server, error) {
	if cfg.Node.Follow != "" && cfg.Node.As == "" {
		return nil, errors.New("--follow needs --as NAME, the node's client identity in the certificates directory (e.g. tr-node)")
	}
	cert, err := serverCertificate(&cfg)
	if err != nil {
		return nil, err
	}
	var signer note.Signer
	if cfg.Node.Follow == "" { // a node signs nothing
		skey, err := os.ReadFile(cfg.LogKey)
		if err != nil {
			return nil, fmt.Errorf("log signing key: %w (run scripts/gen-certs.sh)", err)
		}
		if signer, err = tlog.NewSigner(strings.TrimSpace(string(skey))); err != nil {
			return nil, fmt.Errorf("log signing key %s: %w", cfg.LogKey, err)
		}
	}
	genesis, err := os.ReadFile(cfg.Agreement)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("agreement: %w", err)
	}
	// Listen first: a server that cannot serve (a busy port) must not
	// have begun a new log in a new file.
	lis, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return nil, err
	}
	m := newMetrics(cfg)
	s := &Server{cfg: cfg, served: make(chan error, 1), metrics: m}
	if err := s.listenMetrics(); err != nil {
		lis.Close()
		return nil, err
	}
	closeListeners := func() {
		lis.Close()
		if s.metricsLis != nil {
			s.metricsLis.Close()
		}
	}
	limits, err := withOperators(cfg.Limits, cfg.Operators)
	if err != nil {
		closeListeners()
		return nil, err
	}
	if err := s.syncConfig(); err != nil {
		closeListeners()
		return nil, err
	}
	cfg = s.cfg
	var st *store.Store
	var l *ledger.Ledger
	if cfg.Node.Follow != "" {
		st, l, err = s.openNode(cfg, genesis)
	} else {
		st, l, err = openLog(cfg, signer, genesis, hooks{committed: committedHook(m), release: s.release()})
	}
	if err != nil {
		closeListeners()
		return nil, err
	}
	// After the log: a new log's genesis is committed as soon as can be
	// (a server killed before it leaves a file that holds no log).
	evStore, evWhere, err := openEvidence(cfg)
	if err != nil {
		closeListeners()
		s.closeLog(l, st)
		return nil, err
	}
	if cfg.Evidence.WrapStore != nil {
		evStore = cfg.Evidence.WrapStore(evStore)
	}
	svc := service.New(l, cfg.Logger, limits)
	s.setNode(svc)
	evLimits := cfg.Evidence.Limits
	evLimits.Store = evStore
	svc.SetEvidence(evLimits)
	cfg.Logger.Info("evidence store", "where", evWhere)
	if err := s.copyEvidence(cfg, evStore); err != nil {
		closeListeners()
		s.closeLog(l, st)
		return nil, err
	}
	if err := s.copyCosignatures(cfg); err != nil {
		closeListeners()
		s.closeLog(l, st)
		return nil, err
	}
	observe(svc, l, m, cfg.RefusalLog)
	s.svc, s.ledger, s.store = svc, l, st
	s.cert.Store(&cert) // before the witness endpoint of a node serves with it
	if s.stopWitnesses, err = s.startWitnesses(); err != nil {
		closeListeners()
		s.closeLog(l, st)
		return nil, err
	}
	stamps := s.fileStamps() // before reading, so that a change while reading is seen
	if errs := s.reloadCRLs(); len(errs) > 0 {
		s.stopWitnesses()
		closeListeners()
		s.closeLog(l, st)
		return nil, errors.Join(errs...)
	}
	if cfg.MaxStreams == 0 {
		cfg.MaxStreams = 256
	}
	const streamWorkers = 256
	opts := append(slices.Concat(metricsOptions(m), svc.ServerOptions()),
		grpc.Creds(svc.Credentials(s.getCertificate)),
		grpc.MaxRecvMsgSize(1<<20),
		grpc.MaxConcurrentStreams(cfg.MaxStreams),
		// Clients may ping at most every 10s; idle connections are closed
		// after 15 minutes and dead ones detected within a minute.
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: 10 * time.Second, PermitWithoutStream: true}),
		grpc.KeepaliveParams(keepalive.ServerParameters{MaxConnectionIdle: 15 * time.Minute, Time: 30 * time.Second, Timeout: 20 * time.Second}),
		// A handshake, and the HTTP/2 preface after it, must end within
		// the handshake time of its accept (service/handshakes.go).
		grpc.ConnectionTimeout(cmp.Or(cfg.Limits.HandshakeTimeout, service.DefaultHandshakeTimeout)),
		// Calls run on a pool of long-lived goroutines whose stacks have
		// already grown, instead of a fresh goroutine per call that grows
		// its stack again (copystack was ~10 % of server CPU under load).
		// Beyond the pool, calls still get goroutines of their own.
		grpc.NumStreamWorkers(streamWorkers),
	)
	g := grpc.NewServer(opts...)
	s.lis, s.grpc = lis, g
	s.health = svc.Register(g)
	s.serveExtras(g)
	go func() { s.served <- g.Serve(lis) }()
	if cfg.ReloadInterval > 0 {
		s.watchStop, s.watchDone = make(chan struct{}), make(chan struct{})
		go s.watch(cfg.ReloadInterval, stamps)
	}
	h := l.Head()
	crls := svc.Revocations()
	cfg.Logger.Info("serving", "addr", lis.Addr().String(), "db", cfg.DB, "size", h.Size, "origin", l.Origin(),
		"crls", len(crls.CRLs()), "revoked", crls.Entries(), "tls_cert", cfg.TLSCert)
	return s, nil
}

// Addr is the address the server listens on.
func (s *Server) Addr() string { return s.lis.Addr().String() }

// Service returns the server's gRPC service.
func (s *Server) Service() *service.Service { return s.svc }

// Ledger returns the server's ledger.
func (s *Server) Ledger() *ledger.Ledger { return s.ledger }

// Stop stops gracefully: no new calls, in-flight calls finish (bounded by
// ctx), the writer finishes its batch, and the database is closed.
func (s *Server) Stop(ctx context.Context) error {
	s.stopOnce.Do(func() {
		if s.watchStop != nil {
			close(s.watchStop)
			<-s.watchDone
		}
	})
	s.health.Shutdown()
	s.svc.Shutdown()
	done := make(chan struct{})
	go func() { s.grpc.GracefulStop(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		s.grpc.Stop()
	}
	s.stopMetrics()
	s.stopWitnesses()
	s.closeLog(s.ledger, nil)
	return s.store.Close()
}

// Wait returns when the gRPC server stops serving.
func (s *Server) Wait() error { return <-s.served }
