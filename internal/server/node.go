package server

import (
	"cmp"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"golang.org/x/mod/sumdb/note"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/mvm-exchange/mvm/internal/ledger"
	"github.com/mvm-exchange/mvm/internal/node"
	"github.com/mvm-exchange/mvm/internal/revocation"
	"github.com/mvm-exchange/mvm/internal/service"
	"github.com/mvm-exchange/mvm/internal/store"
	"github.com/mvm-exchange/mvm/internal/tlog"
	"github.com/mvm-exchange/mvm/internal/witness"
	mvmv1 "github.com/mvm-exchange/mvm/proto/mvm/v1"
)

// NodeConfig makes the server a mediator node (package node): it follows
// a primary instead of keeping a log of its own (server --follow).
type NodeConfig struct {
	// Follow is the primary's address; empty: this server is a primary.
	Follow string
	// As is the node's client identity in CertsDir (As.crt, As.key), e.g.
	// tr-node, with which it follows the primary.
	As string
	// Piece bounds the entries copied and committed together (0: the
	// node's default).
	Piece uint64
	// StartTimeout bounds how long a node with an empty database waits
	// for the primary's genesis before Start fails (default 1 minute).
	StartTimeout time.Duration
	// Peers are the other nodes whose checkpoints this one compares with
	// its own (server --peer); PeerInterval how often (0: the default).
	Peers        []string
	PeerInterval time.Duration
	// WitnessListen, if set, is where the node serves the C2SP
	// tlog-witness add-checkpoint endpoint over HTTPS with mutual TLS
	// (the primary's certificate, issued by CertsDir/ca-server.crt), with
	// its cosigner key WitnessKey (default CertsDir/<As>.cosign.key, a
	// cosignature/v1 key whose name the agreement lists as a witness).
	WitnessListen, WitnessKey string
	// WitnessWait bounds how long an add-checkpoint waits for the node to
	// verify up to the checkpoint before answering 503 (default 5s).
	WitnessWait time.Duration
}

// Node is the follower of a node server, nil for a primary.
func (s *Server) Node() *node.Follower { return s.follower }

// openNode opens the node's database and its follower, starts following
// and returns once the node holds the genesis at least (it serves nothing
// before). The returned stop ends the follower and saves its state.
func (s *Server) openNode(cfg Config, genesis []byte) (*store.Store, *ledger.Ledger, error) {
	if cfg.Node.As == "" {
		return nil, nil, errors.New("--follow needs --as NAME, the node's client identity in the certificates directory (e.g. tr-node)")
	}
	if len(genesis) == 0 {
		return nil, nil, fmt.Errorf("a node verifies the log from the pinned genesis agreement: %s is missing (run scripts/gen-certs.sh)", cfg.Agreement)
	}
	if len(cfg.Witnesses) > 0 {
		return nil, nil, errors.New("--witness: a node pushes to no witness; the primary does")
	}
	crls, err := nodeCRLs(cfg)
	if err != nil {
		return nil, nil, err
	}
	st, err := store.Open(cfg.DB, store.Options{InitialMmapSize: nodeMmap})
	if err != nil {
		return nil, nil, err
	}
	nc := node.Config{
		Primary:   cfg.Node.Follow,
		CertFile:  filepath.Join(cfg.CertsDir, cfg.Node.As+".crt"),
		KeyFile:   filepath.Join(cfg.CertsDir, cfg.Node.As+".key"),
		ServerCA:  filepath.Join(cfg.CertsDir, "ca-server.crt"),
		Genesis:   genesis,
		CRLs:      crls,
		Store:     st,
		StateFile: cfg.DB + ".verifier",
		Logger:    cfg.Logger,
		Piece:     cfg.Node.Piece,
		// Fork proofs beside the database (internal/node/fork.go).
		ForkProofs:   cfg.DB + ".fork",
		Peers:        cfg.Node.Peers,
		PeerInterval: cfg.Node.PeerInterval,
	}
	var f *node.Follower
	if s.metrics != nil {
		nc.Alarm, nc.Copied = s.metrics.NodeObserver(func() uint64 { return f.Status().PrimarySize })
	}
	f, err = node.Open(nc)
	if err != nil {
		st.Close()
		return nil, nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { f.Run(ctx) })
	wg.Go(func() { f.WatchPeers(ctx) })
	stop := func() {
		cancel()
		wg.Wait()
		if err := f.Close(); err != nil {
			cfg.Logger.Warn("node: closing the follower", "err", err)
		}
	}
	if f.Ledger().Size() == 0 {
		wait := cmp.Or(cfg.Node.StartTimeout, time.Minute)
		cfg.Logger.Info("node: waiting for the primary's genesis before serving", "primary", cfg.Node.Follow, "for", wait)
		wctx, cancel := context.WithTimeout(ctx, wait)
		err := f.WaitHead(wctx)
		cancel()
		if errors.Is(err, context.DeadlineExceeded) {
			err = fmt.Errorf("node: no verified genesis from the primary at %s within %s (is it up, and does it trust %s?): start the node again once it is", cfg.Node.Follow, wait, cfg.Node.As)
		}
		if err != nil {
			stop()
			st.Close()
			return nil, nil, err
		}
	}
	s.follower, s.stopFollower = f, stop
	return st, f.Ledger(), nil
}

// setNode makes the service a node's.
func (s *Server) setNode(svc *service.Service) {
	if s.follower != nil {
		f := s.follower
		svc.SetNode(&service.Node{Primary: f.Primary(), Status: s.nodeStatus,
			Compare: func(from string, cp []byte) (*mvmv1.CompareCheckpointResponse, error) {
				resp, err := f.CompareCheckpoint(from, cp)
				if errors.Is(err, node.ErrNotLogCheckpoint) {
					return nil, status.Error(codes.InvalidArgument, err.Error()+": nothing compared")
				}
				return resp, err
			}})
	}
}

// nodeCRLs are the revocation lists the node's verifier applies: --crl
// files, else every CertsDir/crl-*.pem.
func nodeCRLs(cfg Config) ([]*x509.RevocationList, error) {
	paths := cfg.CRLs
	if paths == nil {
		var err error
		if paths, err = filepath.Glob(filepath.Join(cfg.CertsDir, revocation.FileName("*"))); err != nil {
			return nil, err
		}
	}
	var out []*x509.RevocationList
	for _, p := range paths {
		rl, err := revocation.ReadFile(p)
		if err != nil {
			return nil, fmt.Errorf("node: CRL %s: %w", p, err)
		}
		out = append(out, rl)
	}
	return out, nil
}

// startNodeWitness serves the node's witness endpoint (NodeConfig.
// WitnessListen): a witness.Handler whose Allow hook is the follower's
// Verified, over HTTPS that takes only clients with a certificate of the
// server CA (the primary's). The returned stop ends it.
func (s *Server) startNodeWitness(cfg Config) (stop func(), err error) {
	nc := cfg.Node
	if nc.WitnessListen == "" {
		return func() {}, nil
	}
	keyFile := cmp.Or(nc.WitnessKey, filepath.Join(cfg.CertsDir, nc.As+".cosign.key"))
	skey, err := os.ReadFile(keyFile)
	if err != nil {
		return nil, fmt.Errorf("--witness-listen: the node's cosigner key: %w (scripts/gen-certs.sh makes NAME.cosign.key)", err)
	}
	name, _, _ := strings.Cut(strings.TrimPrefix(strings.TrimSpace(string(skey)), "PRIVATE+KEY+"), "+")
	h := s.ledger.Head()
	if _, ok := h.Agreement.Witness(name); !ok {
		cfg.Logger.Warn("node: the agreement in force lists no witness of the node's key name; its cosignatures will not count", "witness", name)
	}
	logKey, err := note.NewVerifier(h.Agreement.LogKey)
	if err != nil {
		return nil, err
	}
	caPEM, err := os.ReadFile(filepath.Join(cfg.CertsDir, "ca-server.crt"))
	if err != nil {
		return nil, fmt.Errorf("--witness-listen: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return nil, errors.New("--witness-listen: ca-server.crt holds no certificate")
	}
	wait := cmp.Or(nc.WitnessWait, 5*time.Second)
	f := s.follower
	handler := &witness.Handler{Origin: f.Ledger().Origin(), LogKey: logKey, Key: strings.TrimSpace(string(skey)),
		State: witness.FileState(cfg.DB + ".witness"), Logger: cfg.Logger,
		Allow:  func(ctx context.Context, cp *tlog.Checkpoint) error { return f.Verified(ctx, cp, wait) },
		OnFork: f.OnFork}
	lis, err := net.Listen("tcp", nc.WitnessListen)
	if err != nil {
		return nil, fmt.Errorf("--witness-listen: %w", err)
	}
	srv := &http.Server{Handler: handler, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second,
		TLSConfig: &tls.Config{MinVersion: tls.VersionTLS13, GetCertificate: s.getCertificate,
			ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: pool}}
	s.witnessAddr = lis.Addr().String()
	go func() {
		if err := srv.ServeTLS(lis, "", ""); err != nil && !errors.Is(err, http.ErrServerClosed) {
			cfg.Logger.Error("node: witness endpoint stopped", "addr", s.witnessAddr, "err", err)
		}
	}()
	cfg.Logger.Info("node: witness endpoint serving", "addr", s.witnessAddr, "witness", name)
	return func() { srv.Close() }, nil
}

// WitnessAddr is where a node serves its witness endpoint ("" if not).
func (s *Server) WitnessAddr() string { return s.witnessAddr }

// nodeMmap is the node's initial bbolt map: a catch-up commits pieces of
// thousands of entries, and each time the file outgrew the map bbolt
// remapped it (13 % of a catch-up's CPU, issue 16). 1 GiB of address
// space, about 400,000 entries, before the first remap; beyond, bbolt
// grows it 1 GiB at a time.
const nodeMmap = 1 << 30
