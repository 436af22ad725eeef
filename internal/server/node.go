package server

import (
	"cmp"
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/mvm-exchange/mvm/internal/ledger"
	"github.com/mvm-exchange/mvm/internal/node"
	"github.com/mvm-exchange/mvm/internal/revocation"
	"github.com/mvm-exchange/mvm/internal/service"
	"github.com/mvm-exchange/mvm/internal/store"
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
	// tlog-witness add-checkpoint endpoint over HTTPS with mutual TLS,
	// to the primary only (node_witness.go says how it knows it), with
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
	st, err := store.Open(cfg.DB, store.Options{InitialMmapSize: nodeMmap, PageSize: nodePageSize})
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

// nodeMmap is the node's initial bbolt map: a catch-up commits pieces of
// thousands of entries, and each time the file outgrew the map bbolt
// remapped it (13 % of a catch-up's CPU, issue 16). 1 GiB of address
// space, about 400,000 entries, before the first remap; beyond, bbolt
// grows it 1 GiB at a time.
const nodeMmap = 1 << 30

// nodePageSize is the page size of a node's new file. Its commits are
// pieces of thousands of entries, mostly appended in key order: with 16
// KiB pages bbolt writes a quarter as many pages (one pwrite each), and
// the node took ~7 % less CPU for a catch-up of a million entries, its
// commits ~20 % less (docs/PERFORMANCE.md, session 10). The primary keeps
// the OS page size: its group commits of a few dozen entries dirty an
// index page or more per entry, each written whole. A file made by an
// older node keeps its 4 KiB pages.
const nodePageSize = 16 << 10
