package ledger

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/mvm-exchange/mvm/internal/entry"
	"github.com/mvm-exchange/mvm/internal/envelope"
	"github.com/mvm-exchange/mvm/internal/message"
	"github.com/mvm-exchange/mvm/internal/store"
	"github.com/mvm-exchange/mvm/internal/tlog"
	"github.com/mvm-exchange/mvm/internal/workflow"
	mvmv1 "github.com/mvm-exchange/mvm/proto/mvm/v1"
)

// minVerifyBatch is the batch size from which Ed25519 batch verification
// costs about half of verifying one by one (envelope.BenchmarkVerifyBatch).
const minVerifyBatch = 32

// Lingering: a commit costs about 300 µs of CPU whatever its size (two
// fdatasyncs, some twenty pages, a checkpoint signature), so under load
// the writer waits a little for a fuller batch. It waits only when its
// last batch had at least lingerFrom appends (many callers: a lone caller
// waits only right after a burst, one arrival gap), only while fewer than
// lingerBatch (or MaxBatch) are ready, only as long as appends keep
// arriving (none for lingerGap ends the wait: the callers may all be
// waiting already), and at most Config.Linger. With 64 callers batches
// grow from ~23 to ~32 and the CPU per append falls by ~8 %
// (docs/PERFORMANCE.md).
const (
	DefaultLinger = 600 * time.Microsecond
	lingerFrom    = 16
	lingerBatch   = 40
	lingerGap     = 150 * time.Microsecond
)

// verifier verifies the signatures of prepared appends and hands the
// writer, whenever it asks, everything verified since its last batch.
//
// While the writer commits, arrivals are held until minVerifyBatch of them
// can be verified as one batch (envelope.VerifyAll: one multi-scalar
// multiplication, over VerifyWorkers goroutines); when the writer asks,
// what is held is verified and handed over with the rest, at once, or
// after lingering (above) under load. While the writer waits on an idle
// log, every arrival is verified and handed over at once, so an idle log
// adds no delay. Forged signatures are refused here.
func (l *Ledger) verifier() {
	defer close(l.vstopped)
	var (
		ready   []*request      // verified, for the writer's next batch
		held    []*request      // arrived, not yet verified
		waiting chan []*request // the writer, asking for a batch
		last    int             // the size of the last batch handed over

		// Lingering: the timer ticks every lingerGap until the wait ends.
		tick     = time.NewTimer(time.Hour)
		ticking  <-chan time.Time // tick.C while lingering
		until    time.Time        // the wait ends at the latest
		arrivals int              // since the last tick
	)
	tick.Stop()
	defer tick.Stop()
	enough := min(lingerBatch, l.cfg.MaxBatch) // ready appends that end a linger
	for {
		var reqs chan *request // nil (no receive) once a batch is full
		if len(ready)+len(held) < l.cfg.MaxBatch {
			reqs = l.reqs
		}
		select {
		case w := <-l.asks:
			waiting = w
			if l.cfg.Linger > 0 && last >= lingerFrom && len(ready)+len(held) < enough {
				until, arrivals = time.Now().Add(l.cfg.Linger), 0
				tick.Reset(min(lingerGap, l.cfg.Linger))
				ticking = tick.C
			}
		case <-ticking:
			if arrivals == 0 || !time.Now().Before(until) {
				ticking = nil // hand over now
			} else {
				arrivals = 0
				tick.Reset(min(lingerGap, time.Until(until)))
			}
		case r := <-reqs:
			held = append(held, r)
			arrivals++
		fill:
			for len(ready)+len(held) < l.cfg.MaxBatch {
				select {
				case r := <-l.reqs:
					held = append(held, r)
					arrivals++
				default:
					break fill
				}
			}
		case <-l.done:
			l.fail(ready, ErrClosed)
			l.fail(held, ErrClosed)
			l.drain()
			return
		}
		if ticking != nil && len(ready)+len(held) >= enough {
			tick.Stop()
			ticking = nil
		}
		if (waiting != nil && ticking == nil) || len(held) >= minVerifyBatch {
			ready = append(ready, l.verify(held)...)
			held = nil
		}
		if waiting != nil && ticking == nil && len(ready) > 0 {
			last = len(ready)
			waiting <- ready
			ready, waiting = nil, nil
		}
	}
}

// run is the single writer: it asks the verifier for a batch and commits
// it, again and again.
func (l *Ledger) run() {
	defer close(l.stopped)
	batches := make(chan []*request, 1)
	defer func() {
		// Closing: a batch handed over but not taken is refused, not
		// left without an answer.
		select {
		case batch := <-batches:
			l.fail(batch, ErrClosed)
		default:
		}
	}()
	for {
		select {
		case <-l.done:
			return
		case l.asks <- batches:
		}
		select {
		case <-l.done:
			return
		case batch := <-batches:
			select {
			case <-l.done: // closed while waiting: commit nothing more
				l.fail(batch, ErrClosed)
				return
			default:
			}
			l.commit(batch)
		}
	}
}

// verify checks the signatures of a batch, refuses the appends with a bad
// one and returns the others.
func (l *Ledger) verify(batch []*request) []*request {
	var checks []envelope.Check
	var owner []int
	for i, r := range batch {
		for _, c := range r.checks {
			checks = append(checks, c)
			owner = append(owner, i)
		}
	}
	bad := map[int]error{}
	for j, err := range envelope.VerifyAll(checks, l.cfg.VerifyWorkers) {
		if err != nil && bad[owner[j]] == nil {
			bad[owner[j]] = err
		}
	}
	good := batch[:0]
	for i, r := range batch {
		if err := bad[i]; err != nil {
			r.reply <- reply{err: err}
			continue
		}
		r.checks = nil
		good = append(good, r)
	}
	return good
}

// drain refuses the appends still queued at Close.
func (l *Ledger) drain() {
	for {
		select {
		case r := <-l.reqs:
			r.reply <- reply{err: ErrClosed}
		default:
			return
		}
	}
}

// staged is one accepted request of a batch.
type staged struct {
	req   *request
	index uint64
	leaf  []byte
	dups  []*request // identical envelopes in the same batch
}

// commit applies, stages and commits one batch, then answers every request
// in it. Refusals are answered only after the commit, so that no answer
// depends on state that was never made durable.
func (l *Ledger) commit(batch []*request) {
	h := l.head.Load()
	ag, history := h.Agreement, h.History
	tree := l.tree.Clone()
	// Every node the receipts of this batch need: the right edge before
	// it and the nodes it creates, so no receipt reads the store.
	nodes := tlog.NodeMap{}
	tree.Edge(func(id tlog.NodeID, hash []byte) { nodes[id] = hash })
	// Receive times never go backwards along the log, but authors' clocks
	// are judged against the server's clock (entry.ReceiveTime, CheckClock).
	clock := l.cfg.Now().UTC()
	now := entry.ReceiveTime(clock, l.lastTime)
	l.watchClock(clock)
	sb := &store.Batch{First: h.Size, Certs: map[string][]byte{}}
	overlay := map[string]*workflow.Package{}
	byMsgID := map[string]*staged{}
	var accepted []*staged
	refused := map[*request]error{}
	var earlier []func() // answers for envelopes already committed before

	// One read transaction for every message id of the batch.
	keys := make([][]byte, len(batch))
	for i, r := range batch {
		keys[i] = store.MsgIDKey(r.adm.Author.URI(), r.adm.MessageID())
	}
	logged, err := l.st.MessageIndexes(keys)
	if err != nil {
		l.fail(batch, fmt.Errorf("%w: %w", ErrCommit, err))
		return
	}
	// And one for the states of the packages the cache does not hold, from
	// the package-state index: no replay, whatever a package's history.
	var lookup []string
	for _, r := range batch {
		if _, ok := r.adm.Payload.(*mvmv1.Agreement); !ok {
			if id := message.PackageID(r.adm.Payload); l.cache[id] == nil {
				lookup = append(lookup, id)
			}
		}
	}
	stored, err := l.st.PackageStates(lookup)
	if err != nil {
		l.fail(batch, fmt.Errorf("%w: %w", ErrCommit, err))
		return
	}
	before := map[string]*workflow.Package{} // each package's state before the batch

	for i, r := range batch {
		adm := r.adm
		key := string(keys[i])
		if s, ok := byMsgID[key]; ok {
			if bytes.Equal(s.req.adm.Raw, adm.Raw) {
				s.dups = append(s.dups, r)
			} else {
				refused[r] = fmt.Errorf("%w: %s already used message id %q in this batch", ErrDuplicateMessageID, adm.Author, adm.MessageID())
			}
			continue
		}
		if idx, ok := logged[key]; ok {
			// Committed by an earlier batch of this writer, so durable.
			earlier = append(earlier, func() { res, err := l.duplicate(idx, adm, l.head.Load()); r.reply <- reply{res, err} })
			continue
		}
		// After the duplicate check: a retry of a logged envelope is
		// answered however old its timestamp.
		if err := entry.CheckClock(ag, adm, clock); err != nil {
			refused[r] = err
			continue
		}
		if r.ag != ag || !now.Equal(clock) {
			// Admitted under an agreement that has since been amended, or
			// at a clock earlier than the receive time it is held at:
			// authenticate again under the one in force, at the receive
			// time, where the audit judges the certificate.
			var err error
			if adm, err = entry.Admit(ag, adm.Raw, r.peer, now); err != nil {
				refused[r] = err
				continue
			}
		}
		index := h.Size + uint64(len(sb.Leaves))
		in := workflow.Input{Index: index, ReceivedAt: now, Author: adm.Author, Payload: adm.Payload}
		if p, ok := adm.Payload.(*mvmv1.Agreement); ok {
			if sb.Agreement != nil {
				refused[r] = fmt.Errorf("%w: another amendment is being committed", ErrRetry)
				continue
			}
			next, err := workflow.Amend(ag, adm.Envelope, p, index, now)
			if err != nil {
				refused[r] = err
				continue
			}
			ag, history = next, append(history[:len(history):len(history)], next)
			sb.Agreement = &next.Index
		} else {
			id := message.PackageID(adm.Payload)
			pkg, err := l.packageState(id, overlay, stored)
			if err != nil {
				refused[r] = err
				continue
			}
			if _, ok := overlay[id]; !ok {
				before[id] = pkg
			}
			next, err := workflow.Apply(ag, pkg, in)
			if err != nil {
				refused[r] = err
				continue
			}
			overlay[id] = next
			sb.Packages = append(sb.Packages, store.PackageKey(id, index))
		}
		leaf, err := entry.NewLeaf(index, now, adm.Raw, adm.PeerSHA256)
		if err == nil {
			err = tree.Append(tlog.LeafHash(leaf), func(id tlog.NodeID, hash []byte) {
				sb.Nodes = append(sb.Nodes, store.Node{ID: id, Hash: hash})
				nodes[id] = hash
			})
		}
		if err != nil {
			// The tree may be half-extended: abandon the whole batch.
			l.fail(batch, fmt.Errorf("%w: stage entry %d: %w", ErrCommit, index, err))
			return
		}
		sb.Leaves = append(sb.Leaves, leaf)
		sb.MsgIDs = append(sb.MsgIDs, store.KV{Key: []byte(key), Value: binary.BigEndian.AppendUint64(nil, index)})
		sb.Certs[string(adm.PeerSHA256)] = r.peer.Raw
		s := &staged{req: r, index: index, leaf: leaf}
		byMsgID[key] = s
		accepted = append(accepted, s)
	}

	for _, id := range slices.Sorted(maps.Keys(overlay)) {
		sb.PackageIndex = append(sb.PackageIndex, indexChanges(before[id], overlay[id])...)
	}
	// Keys differ between operations (each names its package), so their
	// order is free: in key order bbolt touches each page once.
	slices.SortFunc(sb.PackageIndex, func(a, b store.IndexOp) int {
		return cmp.Or(cmp.Compare(a.Bucket, b.Bucket), bytes.Compare(a.Key, b.Key))
	})
	var cp []byte
	if len(accepted) > 0 {
		root, err := tree.Root()
		if err == nil {
			cp, err = tlog.SignCheckpoint(l.cfg.Signer, l.origin, tree.Size(), root)
		}
		if err == nil {
			sb.Checkpoint = cp
			t0 := time.Now()
			err = l.cfg.Commit(sb)
			took := time.Since(t0)
			l.log.Debug("batch committed", "first", sb.First, "entries", len(accepted), "requests", len(batch), "commit", took)
			if err == nil && l.cfg.Committed != nil {
				l.cfg.Committed(len(accepted), took)
			}
		}
		if err != nil {
			l.log.Error("batch commit failed", "first", sb.First, "entries", len(accepted), "err", err)
			l.fail(batch, fmt.Errorf("%w: %w", ErrCommit, err))
			return
		}
		l.tree, l.lastTime = tree, now
		l.remember(overlay)
		l.publish(&Head{Size: tree.Size(), Checkpoint: cp, Agreement: ag, History: history})
	}
	var receipts *tlog.ReceiptBuilder
	if len(accepted) > 0 {
		var err error
		if receipts, err = tlog.NewReceiptBuilder(cp); err != nil {
			l.log.Error("checkpoint unusable for receipts", "size", tree.Size(), "err", err)
		}
	}
	for _, s := range accepted {
		res := &Result{Index: s.index, ReceivedAt: now, Leaf: s.leaf, Checkpoint: cp, Size: tree.Size(), Receipts: receipts, Nodes: nodes}
		s.req.reply <- reply{res: res}
		for _, d := range s.dups {
			dup := *res
			dup.Duplicate = true
			d.reply <- reply{res: &dup}
		}
	}
	for r, err := range refused {
		r.reply <- reply{err: err}
	}
	for _, answer := range earlier {
		answer()
	}
}

// fail answers every request of a batch that could not be committed.
func (l *Ledger) fail(batch []*request, err error) {
	for _, r := range batch {
		r.reply <- reply{err: err}
	}
}

// remember moves the committed package states into the cache, compact
// (workflow.Package.Compact: Apply decides the same on it, and it holds
// no payload texts, so a full cache is a small heap for the collector).
func (l *Ledger) remember(overlay map[string]*workflow.Package) {
	if len(l.cache)+len(overlay) > l.cfg.CachePackages {
		clear(l.cache) // crude but bounded; states reload from the store
	}
	for id, p := range overlay {
		l.cache[id] = p.Compact()
	}
}

// packageState returns the state of package id as of the batch so far.
// stored holds the indexed states of the packages outside the cache that
// were looked up (absent: no such package yet).
func (l *Ledger) packageState(id string, overlay map[string]*workflow.Package, stored map[string][]byte) (*workflow.Package, error) {
	if p, ok := overlay[id]; ok {
		return p, nil
	}
	if p, ok := l.cache[id]; ok {
		return p, nil
	}
	if v, ok := stored[id]; ok {
		return DecodeState(v)
	}
	return nil, nil // not indexed: a new package
}

var errCorrupt = errors.New("stored entry cannot be replayed")
