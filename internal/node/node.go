// Package node is a mediator node: a copy of the primary's log that a
// mediator party keeps, verified entry by entry, served like the primary's,
// and witnessed only as far as it is verified.
//
// A [Follower] follows the primary over mutual TLS as the node's own client
// identity. It asks the primary for a signed checkpoint at most a piece
// ahead of what it holds (GetCheckpoint at_most), streams the entries up to
// it (GetEntries), feeds each, as it arrives, to the auditor's incremental verifier
// (package verify: signatures, certificates under the agreement in force
// and the CRLs, clock, reducer, tree) and checks the verifier's root
// against the checkpoint; only then does it store the piece
// (ledger.ReplicateVerified: the primary's store layout, its indexes from
// the same code and the verifier's reducer states, the checkpoint signed by
// the primary's log key). Caught up, it
// waits on a Watch stream for the next commit. It resumes across restarts
// of either side: from its own stored size, with backoff while the primary
// is away.
//
// # Guarantees
//
//   - Nothing is stored that the verifier has not passed: a piece is
//     committed, in one transaction, after every entry of it verified
//     and its root matched the primary's signed checkpoint.
//   - Anything that fails verification stops the copy at the last entry
//     that passed: the entries of the piece verified before it are
//     stored once the primary's consistency proof shows them a prefix of
//     the checkpoint's tree (with the primary's latest checkpoint among
//     them, the rest without one: ledger.ReplicateVerified). It raises the
//     alarm: an ERROR log line naming the entry's index and the reason,
//     the Alarm hook (a metric), and [Follower.Status] (GetStatus,
//     `client status`). The node goes on serving the verified copy; it
//     copies nothing more until restarted.
//   - Memory is bounded: the verifier keeps its package states in
//     temporary files, and at most two pieces are held (one verified and
//     committing while the next is copied and verified).
//   - [Follower.Verified] (the witness's Allow hook) passes a checkpoint
//     only when the node has verified and stored every entry up to its
//     size and its own root at that size is the checkpoint's.
//   - Two checkpoints of the log key that prove a fork (the primary's, a
//     peer node's, a witness request's or one a client saved and handed
//     over, [Follower.CompareCheckpoint]) are written as a fork proof and
//     raise the alarm; nothing else a caller hands over raises it.
//
// At start the verifier is rebuilt over the node's own file: from a
// state saved at the last clean stop (verify.Resume) when there is one
// that matches the file, else from entry 0.
package node

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"golang.org/x/mod/sumdb/note"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/mvm-exchange/mvm/client/mvmclient"
	"github.com/mvm-exchange/mvm/internal/agreement"
	"github.com/mvm-exchange/mvm/internal/ledger"
	"github.com/mvm-exchange/mvm/internal/store"
	"github.com/mvm-exchange/mvm/internal/verify"
	mvmv1 "github.com/mvm-exchange/mvm/proto/mvm/v1"
)

// Config is what a follower needs.
type Config struct {
	// Primary is the primary's address, host:port.
	Primary string
	// CertFile, KeyFile: the node's client identity (e.g. tr-node), which
	// the primary authenticates like any party's. ServerCA: the CA of the
	// primary's server certificate.
	CertFile, KeyFile, ServerCA string
	// Genesis is the pinned genesis agreement envelope: entry 0 must be it.
	Genesis []byte
	// CRLs are the parties' revocation lists the verifier applies.
	CRLs []*x509.RevocationList
	// Store is the node's open database file; StateFile, if set, is where
	// the verifier's state is saved at a clean stop (beside the file).
	Store     *store.Store
	StateFile string
	Logger    *slog.Logger
	// Piece bounds the entries copied and committed together (default
	// 4,096): the primary's latest checkpoint at most that far ahead. The
	// heap holds about two pieces (one verified, one committing), a few
	// KB an entry decoded: past the server's GOMEMLIMIT the collector
	// runs all the time (16,384 cost 3x the CPU an entry, issue 16).
	Piece uint64
	// MinBackoff and MaxBackoff bound the wait after a failed round
	// (default 100ms and 5s).
	MinBackoff, MaxBackoff time.Duration
	// Alarm, if set, is told once when verification fails (a metric).
	Alarm func(index uint64)
	// Copied, if set, is told after each piece stored: its entries and the
	// time from the primary's answer to the commit (metrics).
	Copied func(entries int, took time.Duration)
	// ForkProofs is the path prefix of the fork proofs the node writes
	// (PREFIX-M-N, fork.go); empty: a proven fork is alarmed, not written.
	ForkProofs string
	// Peers are other nodes whose latest checkpoints WatchPeers compares
	// with the node's own, every PeerInterval (default 10s).
	Peers        []string
	PeerInterval time.Duration
}

func (c *Config) defaults() {
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Piece == 0 {
		c.Piece = 1 << 12
	}
	if c.MinBackoff <= 0 {
		c.MinBackoff = 100 * time.Millisecond
	}
	if c.MaxBackoff < c.MinBackoff {
		c.MaxBackoff = max(5*time.Second, c.MinBackoff)
	}
	if c.PeerInterval <= 0 {
		c.PeerInterval = 10 * time.Second
	}
}

// Follower copies and verifies the primary's log into a replica ledger.
type Follower struct {
	cfg     Config
	l       *ledger.Ledger
	genesis *agreement.Agreement
	client  *mvmclient.Client

	// v is the verifier, at the ledger's size between rounds; nil: to be
	// rebuilt from the store. Owned by the goroutine of Run.
	v *verify.Verifier
	// pending collects the verified entries of the piece being copied.
	pending pendingPiece
	// inflight is the outcome of the commit of the last piece verified,
	// running while the next one is copied (nil: none). Owned by Run's
	// goroutine, as v.
	inflight chan error
	// certErr is the primary's failure to answer for a certificate during
	// the piece (a transient fault, not the entry's).
	certErr error
	// lastCheckpoint is the primary's checkpoint verified last (owned by
	// Run's goroutine, as v).
	lastCheckpoint *verifiedCheckpoint
	// next is what is being asked for the next piece while the last one
	// drains (nil: nothing); owned by Run's goroutine, as v.
	next *asked

	mu          sync.Mutex
	verified    uint64 // entries verified and stored
	primarySize uint64
	seen        time.Time
	alarm       string
	alarmIndex  uint64
	// stopCopy ends Run's copy when an alarm is raised from elsewhere
	// (a peer's, a witness request's or a client's fork); nil before Run.
	stopCopy context.CancelFunc
	// caught is closed and replaced when verified grows.
	caught chan struct{}
	// heldCP is the node's latest checkpoint opened under the log key
	// (held), for the comparisons.
	heldCP *heldCheckpoint
}

// Open opens the replica ledger on cfg.Store and rebuilds the verifier
// over the entries it holds. It dials the primary lazily.
func Open(cfg Config) (*Follower, error) {
	cfg.defaults()
	gen, _, err := agreement.FromEnvelope(cfg.Genesis, 0)
	if err != nil {
		return nil, fmt.Errorf("node: the pinned genesis agreement: %w", err)
	}
	// The replica ledger looks no package state up: ReplicateVerified is
	// given the states the verifier computed (its cache serves Replicate
	// only, which the node does not call).
	l, err := ledger.OpenReplica(ledger.ReplicaConfig{Store: cfg.Store, Origin: gen.LogOrigin, Logger: cfg.Logger})
	if err != nil {
		return nil, fmt.Errorf("node: %w", err)
	}
	c, err := mvmclient.Dial(mvmclient.Options{Server: cfg.Primary, CertFile: cfg.CertFile, KeyFile: cfg.KeyFile,
		ServerCA: cfg.ServerCA, Retries: -1})
	if err != nil {
		return nil, fmt.Errorf("node: following %s: %w", cfg.Primary, err)
	}
	f := &Follower{cfg: cfg, l: l, genesis: gen, client: c, caught: make(chan struct{})}
	if err := f.rebuild(); err != nil {
		c.Close()
		return nil, err
	}
	f.verified = l.Size()
	return f, nil
}

// Ledger is the replica the follower writes and the service reads.
func (f *Follower) Ledger() *ledger.Ledger { return f.l }

// Primary is the address of the primary followed.
func (f *Follower) Primary() string { return f.cfg.Primary }

// Close saves the verifier's state (so the next start resumes from it),
// releases it and closes the connection to the primary. Run must have
// returned.
func (f *Follower) Close() error {
	var err error
	if f.v != nil {
		err = f.saveState()
		f.v.Close()
		f.v = nil
	}
	return errors.Join(err, f.client.Close())
}

// WaitHead returns once the node holds a log (the genesis at least), so
// that it can serve reads.
func (f *Follower) WaitHead(ctx context.Context) error {
	for {
		f.mu.Lock()
		ch, n, alarm := f.caught, f.verified, f.alarm
		f.mu.Unlock()
		switch {
		case n > 0:
			return nil
		case alarm != "":
			return fmt.Errorf("node: the copy stopped before the genesis: %s", alarm)
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// Status is the node's GetStatus answer.
func (f *Follower) Status() *mvmv1.GetStatusResponse {
	f.mu.Lock()
	defer f.mu.Unlock()
	s := &mvmv1.GetStatusResponse{Role: "node", Size: f.l.Size(), VerifiedSize: f.verified, Primary: f.cfg.Primary,
		PrimarySize: f.primarySize, Alarm: f.alarm, AlarmIndex: f.alarmIndex}
	if !f.seen.IsZero() {
		s.PrimarySeenAt = timestamppb.New(f.seen)
	}
	return s
}

// Alarm returns the alarm raised ("" if none) and the entry it names.
func (f *Follower) Alarm() (string, uint64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.alarm, f.alarmIndex
}

// raise records the alarm, once: the copy stops.
func (f *Follower) raise(index uint64, err error) {
	f.mu.Lock()
	first := f.alarm == ""
	if first {
		f.alarm, f.alarmIndex = err.Error(), index
		close(f.caught) // a WaitHead sees it
		f.caught = make(chan struct{})
		if f.stopCopy != nil {
			f.stopCopy()
		}
	}
	f.mu.Unlock()
	if !first {
		return
	}
	f.cfg.Logger.Error("node: alarm (an entry of the primary failed verification, or a fork proven); the copy stops at the last verified entry",
		"index", index, "reason", err, "primary", f.cfg.Primary, "verified", f.l.Size())
	if f.cfg.Alarm != nil {
		f.cfg.Alarm(index)
	}
}

// stopCopyWith makes raise call stop (Run's), at once if an alarm was
// raised before Run.
func (f *Follower) stopCopyWith(stop context.CancelFunc) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.stopCopy = stop
	if f.alarm != "" {
		stop()
	}
}

// stored records that the ledger grew to n verified entries.
func (f *Follower) stored(n uint64) {
	f.mu.Lock()
	f.verified = n
	close(f.caught)
	f.caught = make(chan struct{})
	f.mu.Unlock()
}

// logKey is the log's checkpoint verifier under the agreement in force.
func (f *Follower) logKey() (note.Verifier, error) { return verifierFor(f.logVKey()) }

// logVKey is the log's checkpoint verifier key under the agreement in
// force.
func (f *Follower) logVKey() string {
	ag := f.genesis
	if h := f.l.Head(); h != nil {
		ag = h.Agreement
	}
	return ag.LogKey
}
