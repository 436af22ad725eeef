package dbcheck

import (
	"crypto/x509"
	"fmt"
	"time"

	"github.com/mvm-exchange/mvm/internal/agreement"
	"github.com/mvm-exchange/mvm/internal/entry"
	"github.com/mvm-exchange/mvm/internal/envelope"
	"github.com/mvm-exchange/mvm/internal/message"
	"github.com/mvm-exchange/mvm/internal/store"
	"github.com/mvm-exchange/mvm/internal/tlog"
	"github.com/mvm-exchange/mvm/internal/verify"
	"github.com/mvm-exchange/mvm/internal/workflow"
	mvmv1 "github.com/mvm-exchange/mvm/proto/mvm/v1"
)

// chunk is how many entries are verified in parallel at a time.
const chunk = 1024

// work is one entry on its way through the check.
type work struct {
	i    uint64
	leaf []byte
	// ag and cert, if ag is set: entry.Admit is still to run (in parallel).
	ag       *agreement.Agreement
	cert     *x509.Certificate
	envelope []byte
	at       time.Time
	// bad are problems with the entry itself; noIndex means its index
	// records cannot be computed; notes are other problems.
	bad     []string
	badSig  bool // a signature failed (one is enough to say so)
	noIndex bool
	notes   []string
}

// entryState is the state of the pass over the entries.
type entryState struct {
	tree     *tlog.Tree
	cps      bucketCursor
	cpK, cpV []byte
	lastTime time.Time
	work     []*work
	cpWork   []*cpWork
}

func (c *checker) checkEntriesAndTree() {
	if c.entries == nil {
		return
	}
	st := &entryState{cps: cursor(c.checkpoints)}
	st.tree, _ = tlog.NewTree(0, nil)
	st.cpK, st.cpV = st.cps.first()
	gap := false
	cur := c.entries.Cursor()
	for k, v := cur.First(); k != nil; k, v = cur.Next() {
		i, ok := index(k)
		switch {
		case !ok:
			c.damage(store.BucketEntries, numKey(k), "key is not an 8-byte index")
		case v == nil:
			c.damage(store.BucketEntries, numKey(k), "is a bucket, not an entry")
		case gap:
			c.damage(store.BucketEntries, numKey(k), "follows missing entry %d", c.size+uint64(len(st.work)))
		case i != c.size+uint64(len(st.work)):
			c.flush(st)
			c.damage(store.BucketEntries, fmt.Sprint(c.size), "missing (the next stored entry is %d)", i)
			gap = true
		default:
			// The slices stay valid while the read transaction is open.
			st.work = append(st.work, c.prepare(i, v, &st.lastTime))
			if len(st.work) == chunk {
				c.flush(st)
			}
		}
	}
	c.flush(st)
	c.rep.Entries = c.size
	for ; st.cpK != nil; st.cpK, st.cpV = st.cps.next() {
		c.rep.Checkpoints++
		if sz, ok := index(st.cpK); ok && sz > c.size {
			if gap {
				c.damage(store.BucketCheckpoints, numKey(st.cpK), "cannot be checked: entry %d is missing", c.size)
			} else {
				c.damage(store.BucketCheckpoints, numKey(st.cpK), "covers %d entries; the log has %d", sz, c.size)
			}
			c.rep.LatestCheckpoint = max(c.rep.LatestCheckpoint, sz)
			continue
		}
		c.badCheckpointKey(st.cpK)
	}
	if c.rep.LatestCheckpoint != c.size && c.checkpoints != nil {
		c.damage(store.BucketCheckpoints, "", "the latest checkpoint is of size %d, the log has %d entries (the server refuses to start)", c.rep.LatestCheckpoint, c.size)
	}
}

// flush verifies the signatures of the pending entries in parallel, then
// takes them in log order through the index records, the tree and the
// checkpoints at their sizes, whose signatures it verifies in parallel.
func (c *checker) flush(st *entryState) {
	// entry.Admit, its signatures verified in batches (the verifier's own
	// parallel verification).
	verify.VerifyParallel(0, len(st.work), func(j int) []envelope.Check {
		w := st.work[j]
		if w.ag == nil {
			return nil
		}
		_, checks, err := entry.Prepare(w.ag, w.envelope, w.cert, w.at)
		if err != nil {
			w.bad = append(w.bad, err.Error())
		}
		return checks
	}, func(j int, err error) {
		if w := st.work[j]; !w.badSig {
			w.bad, w.badSig = append(w.bad, err.Error()), true
		}
	})
	for _, w := range st.work {
		key := fmt.Sprint(w.i)
		for _, b := range w.bad {
			c.damage(store.BucketEntries, key, "%s", b)
			c.damagedEntries[w.i] = true
		}
		for _, n := range w.notes {
			c.damage(store.BucketEntries, key, "%s", n)
		}
		if w.noIndex {
			c.damagedEntries[w.i] = true
		} else {
			c.checkIndexRecords(w.i, w.leaf)
		}
		c.size++
		if err := st.tree.Append(tlog.LeafHash(w.leaf), c.compareNode); err != nil {
			c.damage(store.BucketEntries, key, "extending the tree: %v", err) // cannot happen: leaf hashes are 32 bytes
		}
		// Every checkpoint up to this size: those of a smaller size were
		// passed over (malformed keys or size 0).
		for st.cpK != nil {
			sz, ok := index(st.cpK)
			if ok && sz > c.size {
				break
			}
			if !ok || sz < c.size {
				c.badCheckpointKey(st.cpK)
			} else if root, err := st.tree.Root(); err != nil {
				c.damage(store.BucketEntries, key, "tree root: %v", err)
			} else {
				st.cpWork = append(st.cpWork, &cpWork{size: sz, signed: st.cpV, root: root})
			}
			st.cpK, st.cpV = st.cps.next()
		}
	}
	st.work = st.work[:0]
	verify.Parallel(0, len(st.cpWork), func(lo, hi int) {
		for _, cw := range st.cpWork[lo:hi] {
			c.verifyCheckpoint(cw)
		}
	})
	for _, cw := range st.cpWork {
		c.rep.Checkpoints++
		c.rep.LatestCheckpoint = max(c.rep.LatestCheckpoint, cw.size)
		if cw.problem != "" {
			c.damage(store.BucketCheckpoints, fmt.Sprint(cw.size), "%s", cw.problem)
		}
	}
	st.cpWork = st.cpWork[:0]
}

// prepare does the checks of the leaf at index i that must run in log
// order: its shape, its receive time after *lastTime, and agreements
// (each changes who may sign what follows). The signature checks of other
// entries are left to flush, in parallel.
func (c *checker) prepare(i uint64, leaf []byte, lastTime *time.Time) *work {
	w := &work{i: i, leaf: leaf}
	bad := func(format string, args ...any) *work {
		w.bad = append(w.bad, fmt.Sprintf(format, args...))
		return w
	}
	o, err := entry.Open(leaf)
	if o == nil {
		w.noIndex = true
		return bad("%v", err)
	}
	e := o.Entry
	if e.Index != i {
		bad("the leaf says it is entry %d", e.Index)
	}
	w.at = e.ReceivedAt.AsTime()
	if w.at.Before(*lastTime) {
		w.notes = append(w.notes, fmt.Sprintf("received at %s, before the previous entry (%s)",
			w.at.Format(time.RFC3339Nano), lastTime.Format(time.RFC3339Nano)))
	}
	*lastTime = w.at
	if o.Envelope == nil {
		w.noIndex = true
		return bad("envelope: %v", err)
	}
	env := o.Envelope
	isAgreement := env.PayloadType == message.TypeAgreement
	var current *agreement.Agreement
	if n := len(c.history); n > 0 {
		current = c.history[n-1]
	}
	switch {
	case i == 0 && !isAgreement:
		w.noIndex = true
		return bad("entry 0 is a %s, not the genesis agreement", env.PayloadType)
	case current == nil && i > 0:
		return bad("no valid agreement precedes it")
	case i > 0:
		s, ok := c.certs[string(e.PeerCertificateSha256)]
		if !ok {
			w.noIndex = true
			return bad("signer certificate %x is not stored (or is damaged)", e.PeerCertificateSha256)
		}
		if !isAgreement {
			w.ag, w.cert, w.envelope = current, s.cert, e.Envelope
			return w
		}
		if _, err := entry.Admit(current, e.Envelope, s.cert, w.at); err != nil {
			return bad("%v", err)
		}
	}
	// The genesis agreement or an amendment.
	if err != nil {
		w.noIndex = true
		return bad("payload: %v", err)
	}
	ap := o.Payload.(*mvmv1.Agreement)
	if i == 0 {
		if g, err := agreement.Parse(ap, 0); err == nil {
			c.genesis = g // for the log key, even if a signature fails below
		}
	}
	next, err := workflow.Amend(current, env, ap, i, w.at)
	if err != nil {
		if i == 0 && c.genesis != nil {
			// Check what follows under the genesis as it reads, so that one
			// bad signature on it is one damage, not one per entry.
			c.history = append(c.history, c.genesis)
		}
		return bad("agreement: %v", err)
	}
	c.history = append(c.history, next)
	return w
}
