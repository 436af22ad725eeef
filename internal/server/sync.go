package server

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/mvm-exchange/mvm/internal/witness"
)

// Synchronous replication (server --sync-witnesses N).
//
// A receipt normally means "durable here" (fsync'd with a checkpoint
// covering it). With N > 0 it means more: N of the configured witnesses
// (--witness; mediator nodes, which cosign a checkpoint only once they
// have verified and durably stored every entry up to it) have cosigned a
// checkpoint covering the entry, so a receipt means "on N+1 sites". The
// writer never waits: batches commit as before, the pushers send the
// latest checkpoint to each witness as soon as the previous request is
// answered, and each append's caller waits on its own goroutine
// (ledger.Config.Release) until N witnesses' cosigned sizes cover its
// checkpoint.
//
// If that does not happen within SyncTimeout, the append is answered
// Unavailable (ledger.ErrNotReplicated): the entry IS logged and durable
// here, and stays so, but is not known to be anywhere else. Retrying the
// same envelope (same message id and bytes, as the client library does
// on Unavailable) logs nothing new: it is answered with the same index
// once N witnesses cover it, or Unavailable again. A different envelope
// under the same message id is refused as ever.
//
// Which witnesses count: only those given with --witness (each of which
// the agreement lists), and only cosignatures the server verified in this
// run. A plain C2SP witness (litewitness) checks consistency only and
// stores no entry: counting one says "its checkpoint was seen", not "its
// entries are stored". For the guarantee, list nodes.

// DefaultSyncTimeout is the default [Config.SyncTimeout].
const DefaultSyncTimeout = 5 * time.Second

// syncConfig checks the --sync-witnesses settings against the witnesses
// configured, and under it makes the pushes prompt unless told otherwise:
// a receipt waits for the next push, so the pushers must not idle 250ms
// between pushes nor a second after a failure.
func (s *Server) syncConfig() error {
	c := &s.cfg
	switch {
	case c.SyncWitnesses < 0:
		return fmt.Errorf("--sync-witnesses %d: must be 0 (off) or a number of witnesses", c.SyncWitnesses)
	case c.SyncWitnesses == 0:
		return nil
	case c.SyncWitnesses > len(c.Witnesses):
		return fmt.Errorf("--sync-witnesses %d: only %d witnesses are configured (--witness NAME=URL); receipts could never be released", c.SyncWitnesses, len(c.Witnesses))
	}
	if c.SyncTimeout <= 0 {
		c.SyncTimeout = DefaultSyncTimeout
	}
	if c.WitnessInterval == 0 {
		c.WitnessInterval = time.Millisecond
	}
	if c.WitnessBackoff == 0 {
		c.WitnessBackoff = 10 * time.Millisecond
	}
	s.replicas = witness.NewReplicas()
	return nil
}

// release is the ledger's Release hook: nil without --sync-witnesses.
func (s *Server) release() func(ctx context.Context, index, size uint64) error {
	if s.replicas == nil {
		return nil
	}
	n, timeout := s.cfg.SyncWitnesses, s.cfg.SyncTimeout
	held := func() {}
	if s.metrics != nil {
		held = s.metrics.ReceiptHeldCounter()
	}
	return func(ctx context.Context, index, size uint64) error {
		wctx, cancel := context.WithTimeout(ctx, timeout)
		defer cancel()
		err := s.replicas.Wait(wctx, size, n)
		if err == nil {
			return nil
		}
		held()
		if ctx.Err() == nil {
			s.logHeld(index, size, err)
		}
		return fmt.Errorf("not cosigned by %d witnesses within %s, so not known to be stored on another site; retry the same envelope to get its receipt once it is: %w", n, timeout, err)
	}
}

// logHeld logs a held receipt, at most once a second: a witness that is
// down holds every receipt.
func (s *Server) logHeld(index, size uint64, err error) {
	now := time.Now().UnixNano()
	last := s.heldLogged.Load()
	if now-last < int64(time.Second) || !s.heldLogged.CompareAndSwap(last, now) {
		return
	}
	s.cfg.Logger.Warn("receipt held: entry logged but not replicated in time", "index", index, "size", size,
		"sync_witnesses", s.cfg.SyncWitnesses, "timeout", s.cfg.SyncTimeout, "err", err)
}

// cosigStore stores the witnesses' cosignatures at most once per interval
// per witness under --sync-witnesses, always the latest in the end. A
// stored cosignature is a bbolt write transaction with its fsync, which
// the writer's next commit queues behind; pushed every few milliseconds
// (as receipts wait for them) they would cost the writer a commit's worth
// each. Receipts do not wait for the store: Replicas hears first.
type cosigStore struct {
	add   func(size uint64, name, line string) error
	every time.Duration
	log   func(msg string, args ...any)

	mu      sync.Mutex
	last    map[string]time.Time
	pending map[string]cosigLine // the latest not yet stored, by witness
	closed  bool
}

type cosigLine struct {
	size uint64
	line string
}

func newCosigStore(add func(uint64, string, string) error, every time.Duration, log func(string, ...any)) *cosigStore {
	return &cosigStore{add: add, every: every, log: log, last: map[string]time.Time{}, pending: map[string]cosigLine{}}
}

// Add stores the line now if the witness's last one is older than the
// interval, or keeps it to store when it is (replacing one kept before).
func (c *cosigStore) Add(size uint64, name, line string) error {
	c.mu.Lock()
	wait := c.every - time.Since(c.last[name])
	if c.closed || wait <= 0 {
		c.last[name] = time.Now()
		c.mu.Unlock()
		return c.add(size, name, line)
	}
	_, armed := c.pending[name]
	c.pending[name] = cosigLine{size, line}
	c.mu.Unlock()
	if !armed {
		time.AfterFunc(wait, func() { c.flush(name) })
	}
	return nil
}

func (c *cosigStore) flush(name string) {
	c.mu.Lock()
	p, ok := c.pending[name]
	delete(c.pending, name)
	c.last[name] = time.Now()
	closed := c.closed
	c.mu.Unlock()
	if !ok || closed {
		return
	}
	if err := c.add(p.size, name, p.line); err != nil {
		c.log("storing a witness's cosignature failed", "witness", name, "size", p.size, "err", err)
	}
}

// Close stores what is kept, before the store closes; later lines are
// stored at once.
func (c *cosigStore) Close() {
	c.mu.Lock()
	pending := c.pending
	c.pending, c.closed = map[string]cosigLine{}, true
	c.mu.Unlock()
	for name, p := range pending {
		if err := c.add(p.size, name, p.line); err != nil {
			c.log("storing a witness's cosignature failed", "witness", name, "size", p.size, "err", err)
		}
	}
}
