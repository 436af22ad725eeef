package ledger

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/mvm-exchange/mvm/internal/agreement"
	"github.com/mvm-exchange/mvm/internal/entry"
	"github.com/mvm-exchange/mvm/internal/message"
	"github.com/mvm-exchange/mvm/internal/store"
	"github.com/mvm-exchange/mvm/internal/tlog"
	"github.com/mvm-exchange/mvm/internal/workflow"
	mvmv1 "github.com/mvm-exchange/mvm/proto/mvm/v1"
)

// The writer commits a batch in phases, each a method below:
//
//	begin    the head, a clone of the tree and the clock the batch starts from
//	lookup   the batch's message ids in the log, the package states the cache lacks
//	stage    each append through dedup, clock, re-admission and the reducer,
//	         into the tree clone and the store batch
//	sign     the checkpoint of the extended tree
//	persist  the store batch, in one transaction (Config.Commit)
//	advance  the writer's tree, last receive time, package cache and head
//	answer   receipts for the logged, errors for the refused
//
// Every phase up to persist works on the pending batch only: if one fails
// (a read, the tree, the signature, the store; a refusal is one append's
// answer, not a failure), every append of the batch is answered with
// ErrCommit (retrying is safe) and the ledger is exactly as before the
// batch. Only advance, once the batch is durable, changes what readers and
// the next batch see.

// commitFailed is the answer to every append of a batch that failed in a
// phase: nothing of the batch is logged, so the caller can send it again.
func commitFailed(err error) error {
	return fmt.Errorf("%w, nothing of its batch was logged (retrying is safe): %w", ErrCommit, err)
}

// pending is one batch on its way through the phases.
type pending struct {
	batch []*request
	// The committed state the batch extends, and what it makes of it.
	h       *Head
	ag      *agreement.Agreement // in force; amended as the batch goes
	history []*agreement.Agreement
	tree    *tlog.Tree // the writer's, cloned, extended by the batch
	// nodes holds every node the batch's receipts need: the right edge
	// before it and the nodes it creates, so no receipt reads the store.
	nodes tlog.NodeMap
	clock time.Time // the server's clock, against which authors are judged
	now   time.Time // the batch's receive time, never before the last one
	sb    *store.Batch

	keys   [][]byte          // message-id key of each request
	logged map[string]uint64 // those keys already in the log
	stored map[string][]byte // indexed states of packages outside the cache

	overlay map[string]*workflow.Package // package states after the batch so far
	before  map[string]*workflow.Package // and before it
	byMsgID map[string]*staged

	accepted []*staged
	refused  map[*request]error
	earlier  []func() // answers for envelopes committed by an earlier batch
	cp       []byte   // the signed checkpoint, once signed
}

// staged is one accepted request of a batch.
type staged struct {
	req   *request
	index uint64
	leaf  []byte
	dups  []*request // identical envelopes in the same batch
}

// commit takes one batch through the phases. Refusals are answered only
// after the commit, so that no answer depends on state that was never made
// durable.
func (l *Ledger) commit(batch []*request) {
	p := l.begin(batch)
	err := l.lookup(p)
	if err == nil {
		err = l.stage(p)
	}
	if err == nil && len(p.accepted) > 0 {
		if err = l.sign(p); err == nil {
			err = l.persist(p)
		}
	}
	if err != nil {
		l.fail(batch, err)
		return
	}
	if len(p.accepted) > 0 {
		l.advance(p)
	}
	l.answer(p)
}

// begin starts a batch from the published head and a clone of the tree:
// nothing the batch does reaches the writer's own state before advance.
// Receive times never go backwards along the log, but authors' clocks are
// judged against the server's clock (entry.ReceiveTime, CheckClock).
func (l *Ledger) begin(batch []*request) *pending {
	h := l.head.Load()
	p := &pending{
		batch: batch, h: h, ag: h.Agreement, history: h.History,
		tree: l.tree.Clone(), nodes: tlog.NodeMap{},
		sb:      &store.Batch{First: h.Size, Certs: map[string][]byte{}},
		overlay: map[string]*workflow.Package{}, before: map[string]*workflow.Package{},
		byMsgID: map[string]*staged{}, refused: map[*request]error{},
	}
	p.tree.Edge(func(id tlog.NodeID, hash []byte) { p.nodes[id] = hash })
	p.clock = l.cfg.Now().UTC()
	p.now = entry.ReceiveTime(p.clock, l.lastTime)
	l.watchClock(p.clock)
	return p
}

// lookup reads, in one read transaction each, which of the batch's message
// ids the log holds and the states of the packages the cache does not hold
// (from the package-state index: no replay, whatever a package's history).
func (l *Ledger) lookup(p *pending) error {
	p.keys = make([][]byte, len(p.batch))
	var ids []string
	for i, r := range p.batch {
		p.keys[i] = store.MsgIDKey(r.adm.Author.URI(), r.adm.MessageID())
		if _, ok := r.adm.Payload.(*mvmv1.Agreement); !ok {
			if id := message.PackageID(r.adm.Payload); id != "" && l.cache[id] == nil {
				ids = append(ids, id)
			}
		}
	}
	var err error
	if p.logged, err = l.st.MessageIndexes(p.keys); err != nil {
		return commitFailed(err)
	}
	if p.stored, err = l.st.PackageStates(ids); err != nil {
		return commitFailed(err)
	}
	return nil
}

// stage takes the requests in order through dedup, the clock, re-admission
// and the reducer, and stages the leaves of those accepted: their indexes
// follow the head's size without gaps. A refusal is recorded in p.refused
// and changes nothing staged. The error is for the whole batch: the tree
// clone may be half-extended.
func (l *Ledger) stage(p *pending) error {
	for i, r := range p.batch {
		key := string(p.keys[i])
		if l.dedup(p, key, r) {
			continue
		}
		adm, err := p.admit(r)
		if err == nil {
			err = l.apply(p, adm)
		}
		if err != nil {
			p.refused[r] = err
			continue
		}
		if err := p.stageLeaf(key, r, adm); err != nil {
			return err
		}
	}
	p.indexChanges()
	return nil
}

// dedup reports whether the request is settled by its message id: an
// identical envelope earlier in the batch (answered with its result), a
// different one under the same id (refused), or an envelope an earlier
// batch logged (answered with its entry, which is durable).
func (l *Ledger) dedup(p *pending, key string, r *request) bool {
	adm := r.adm
	if s, ok := p.byMsgID[key]; ok {
		if bytes.Equal(s.req.adm.Raw, adm.Raw) {
			s.dups = append(s.dups, r)
		} else {
			p.refused[r] = fmt.Errorf("%w: %s already used message id %q in this batch", ErrDuplicateMessageID, adm.Author, adm.MessageID())
		}
		return true
	}
	if idx, ok := p.logged[key]; ok {
		p.earlier = append(p.earlier, func() { res, err := l.duplicate(idx, adm, l.head.Load()); r.reply <- reply{res, err} })
		return true
	}
	return false
}

// admit judges the author's clock (after dedup: a retry of a logged
// envelope is answered however old its timestamp) and authenticates the
// envelope again where its admission is stale: under an agreement since
// amended, or at a clock earlier than the receive time it is held at. It
// is then judged under the agreement in force at the receive time, where
// the audit judges the certificate.
func (p *pending) admit(r *request) (*entry.Admitted, error) {
	if err := entry.CheckClock(p.ag, r.adm, p.clock); err != nil {
		return nil, err
	}
	if r.ag == p.ag && p.now.Equal(p.clock) {
		return r.adm, nil
	}
	return entry.Admit(p.ag, r.adm.Raw, r.peer, p.now)
}

// apply runs the entry through the workflow at the next index: an
// amendment replaces the agreement in force for the rest of the batch (one
// per batch: a second is told to retry), anything else moves its package's
// state in the overlay. A refusal changes neither.
func (l *Ledger) apply(p *pending, adm *entry.Admitted) error {
	index := p.h.Size + uint64(len(p.sb.Leaves))
	if ap, ok := adm.Payload.(*mvmv1.Agreement); ok {
		if p.sb.Agreement != nil {
			return fmt.Errorf("%w: another amendment is being committed", ErrRetry)
		}
		next, err := workflow.Amend(p.ag, adm.Envelope, ap, index, p.now)
		if err != nil {
			return err
		}
		p.ag, p.history = next, append(p.history[:len(p.history):len(p.history)], next)
		p.sb.Agreement = &next.Index
		return nil
	}
	id := message.PackageID(adm.Payload)
	if id == "" { // about no package (a report publication): the reducer judges it, no state changes
		_, err := workflow.Apply(p.ag, nil, workflow.Input{Index: index, ReceivedAt: p.now, Author: adm.Author, Payload: adm.Payload})
		return err
	}
	pkg, err := l.packageState(id, p.overlay, p.stored)
	if err != nil {
		return err
	}
	if _, ok := p.overlay[id]; !ok {
		p.before[id] = pkg
	}
	next, err := workflow.Apply(p.ag, pkg, workflow.Input{Index: index, ReceivedAt: p.now, Author: adm.Author, Payload: adm.Payload})
	if err != nil {
		return err
	}
	p.overlay[id] = next
	p.sb.Packages = append(p.sb.Packages, store.PackageKey(id, index))
	return nil
}

// stageLeaf makes the accepted entry's leaf, extends the tree clone with
// it and stages the leaf, its nodes, its message id and its signer's
// certificate.
func (p *pending) stageLeaf(key string, r *request, adm *entry.Admitted) error {
	index := p.h.Size + uint64(len(p.sb.Leaves))
	leaf, err := entry.NewLeaf(index, p.now, adm.Raw, adm.PeerSHA256)
	if err == nil {
		err = p.tree.Append(tlog.LeafHash(leaf), func(id tlog.NodeID, hash []byte) {
			p.sb.Nodes = append(p.sb.Nodes, store.Node{ID: id, Hash: hash})
			p.nodes[id] = hash
		})
	}
	if err != nil {
		return commitFailed(fmt.Errorf("stage entry %d: %w", index, err))
	}
	p.sb.Leaves = append(p.sb.Leaves, leaf)
	p.sb.MsgIDs = append(p.sb.MsgIDs, store.KV{Key: []byte(key), Value: binary.BigEndian.AppendUint64(nil, index)})
	p.sb.Certs[string(adm.PeerSHA256)] = r.peer.Raw
	s := &staged{req: r, index: index, leaf: leaf}
	p.byMsgID[key] = s
	p.accepted = append(p.accepted, s)
	return nil
}

// indexChanges stages the package-state index records the batch changes,
// all cut from one buffer. They are not sorted: the keys differ between
// operations (each names its package), and bbolt keeps every node a
// transaction touches until its commit, where it writes each node's
// records sorted and splits them then, so the order of the puts changes
// neither the pages written nor the file (sorting them was ~4 % of the
// commit's CPU: BenchmarkCommitIndex).
func (p *pending) indexChanges() {
	ids := slices.Sorted(maps.Keys(p.overlay))
	buf := make([]byte, 0, 384*len(ids)) // a new package's records take ~300 bytes
	ops := make([]store.IndexOp, 0, 3*len(ids))
	for _, id := range ids {
		ops = appendChanges(ops, &buf, p.before[id], p.overlay[id], nil)
	}
	p.sb.PackageIndex = ops
}

// sign signs the checkpoint of the extended tree, staged with the batch:
// it is stored only if the batch is.
func (l *Ledger) sign(p *pending) error {
	root, err := p.tree.Root()
	if err == nil {
		p.cp, err = tlog.SignCheckpoint(l.cfg.Signer, l.origin, p.tree.Size(), root)
	}
	if err != nil {
		l.log.Error("batch commit failed", "first", p.sb.First, "entries", len(p.accepted), "err", err)
		return commitFailed(err)
	}
	p.sb.Checkpoint = p.cp
	return nil
}

// persist commits the store batch with Config.Commit (Store.Commit: one
// bbolt transaction, one fsync): all of it is durable, or none of it.
func (l *Ledger) persist(p *pending) error {
	t0 := time.Now()
	err := l.cfg.Commit(p.sb)
	took := time.Since(t0)
	if err != nil {
		l.log.Error("batch commit failed", "first", p.sb.First, "entries", len(p.accepted), "err", err)
		return commitFailed(err)
	}
	l.log.Debug("batch committed", "first", p.sb.First, "entries", len(p.accepted), "requests", len(p.batch), "commit", took)
	if l.cfg.Committed != nil {
		l.cfg.Committed(len(p.accepted), took)
	}
	return nil
}

// advance makes the durable batch the writer's state, then publishes the
// new head: a reader that sees the head finds its entries in the store.
func (l *Ledger) advance(p *pending) {
	l.tree, l.lastTime = p.tree, p.now
	l.remember(p.overlay)
	l.publish(&Head{Size: p.tree.Size(), Checkpoint: p.cp, Agreement: p.ag, History: p.history})
}

// answer releases every caller of the batch: the logged with their index,
// checkpoint and receipt material (identical envelopes of the batch as
// duplicates), the refused with their error, re-sent envelopes with their
// earlier entry.
func (l *Ledger) answer(p *pending) {
	var receipts *tlog.ReceiptBuilder
	if len(p.accepted) > 0 {
		var err error
		if receipts, err = tlog.NewReceiptBuilder(p.cp); err != nil {
			l.log.Error("checkpoint unusable for receipts", "size", p.tree.Size(), "err", err)
		}
	}
	for _, s := range p.accepted {
		res := &Result{Index: s.index, ReceivedAt: p.now, Leaf: s.leaf, Checkpoint: p.cp, Size: p.tree.Size(), Receipts: receipts, Nodes: p.nodes}
		s.req.reply <- reply{res: res}
		for _, d := range s.dups {
			dup := *res
			dup.Duplicate = true
			d.reply <- reply{res: &dup}
		}
	}
	for r, err := range p.refused {
		r.reply <- reply{err: err}
	}
	for _, answer := range p.earlier {
		answer()
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
