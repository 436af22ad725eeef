package dbcheck

import (
	"fmt"

	"github.com/mvm-exchange/mvm/internal/agreement"
	"github.com/mvm-exchange/mvm/internal/entry"
	"github.com/mvm-exchange/mvm/internal/store"
	"github.com/mvm-exchange/mvm/internal/verify"
	mvmv1 "github.com/mvm-exchange/mvm/proto/mvm/v1"
)

// chunk is how many entries are pushed to the verifier at a time.
const chunk = 1024

// entryState is the state of the pass over the entries.
type entryState struct {
	v        *verify.Verifier
	cps      bucketCursor
	cpK, cpV []byte
	cpWork   []*cpWork
}

// checkEntriesAndTree feeds the stored entries, in key order from 0, to
// the log's verifier (package verify) in keep-going mode: every entry it
// finds at fault (its shape and index, signature, certificate under the
// agreement in force, receive time, message id, the workflow reducer) is
// listed as damage, and the check goes on. What only the file has is
// checked as the verifier places each leaf: the stored tree nodes
// (compareNode), the index records and the checkpoints at its size.
func (c *checker) checkEntriesAndTree() {
	if c.entries == nil {
		return
	}
	st := &entryState{cps: cursor(c.checkpoints)}
	st.cpK, st.cpV = st.cps.first()
	hint := uint64(0)
	if c.meta != nil {
		hint, _ = index(c.meta.Get([]byte(store.MetaSize)))
	}
	v, err := verify.New(verify.Options{
		Certificate: c.certificate, SizeHint: hint, Node: c.compareNode,
		// The package states and message ids in temporary files: the
		// memory does not grow with the log.
		Bounded: true,
		OnFault: func(e *verify.EntryError) {
			c.damagedEntries[e.Index] = true
			c.damage(store.BucketEntries, fmt.Sprint(e.Index), "%v", e.Err)
		},
		Visit: func(i uint64, o *entry.Opened) error {
			c.visit(st, i, o)
			return nil
		},
	})
	if err != nil {
		c.damage(store.BucketEntries, "", "cannot be verified: %v", err)
		return
	}
	defer v.Close()
	st.v = v
	pushed, gap := uint64(0), false
	var leaves [][]byte
	push := func() {
		// The leaves are bbolt's memory, valid while the transaction is open.
		if err := v.Push(leaves...); err != nil {
			c.damage(store.BucketEntries, "", "verifying the entries failed: %v", err)
		}
		leaves = leaves[:0]
		c.verifyCheckpoints(st)
	}
	cur := c.entries.Cursor()
	for k, val := cur.First(); k != nil; k, val = cur.Next() {
		i, ok := index(k)
		switch {
		case !ok:
			c.damage(store.BucketEntries, numKey(k), "key is not an 8-byte index")
		case val == nil:
			c.damage(store.BucketEntries, numKey(k), "is a bucket, not an entry")
		case gap:
			c.damage(store.BucketEntries, numKey(k), "follows missing entry %d", pushed)
		case i != pushed:
			c.damage(store.BucketEntries, fmt.Sprint(pushed), "missing (the next stored entry is %d)", i)
			gap = true
		default:
			leaves = append(leaves, val)
			pushed++
			if len(leaves) == chunk {
				push()
			}
		}
	}
	push()
	if err := v.Flush(); err != nil {
		c.damage(store.BucketEntries, "", "verifying the entries failed: %v", err)
	}
	c.verifyCheckpoints(st)
	c.size = v.Size()
	c.history = v.Agreements()
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

// visit is what dbcheck does with each entry the verifier places, faulty
// or not, in log order: entry 0's log key (for the checkpoints, even if
// its signatures fail), the index records, and the stored checkpoints up
// to the new size, with the root there.
func (c *checker) visit(st *entryState, i uint64, o *entry.Opened) {
	if i == 0 && o != nil {
		if ap, ok := o.Payload.(*mvmv1.Agreement); ok {
			if g, err := agreement.Parse(ap, 0); err == nil {
				c.genesis = g
			}
		}
	}
	if o != nil && o.Payload != nil {
		c.checkIndexRecords(i, o)
	} else {
		c.damagedEntries[i] = true // what it should index is unknown
	}
	size := i + 1
	// Every checkpoint up to this size: those of a smaller size were
	// passed over (malformed keys or size 0).
	for st.cpK != nil {
		sz, ok := index(st.cpK)
		if ok && sz > size {
			break
		}
		if !ok || sz < size {
			c.badCheckpointKey(st.cpK)
		} else if root, err := st.v.Root(); err != nil {
			c.damage(store.BucketEntries, fmt.Sprint(i), "tree root: %v", err)
		} else {
			st.cpWork = append(st.cpWork, &cpWork{size: sz, signed: st.cpV, root: root})
		}
		st.cpK, st.cpV = st.cps.next()
	}
}

// verifyCheckpoints verifies the checkpoints collected so far, in
// parallel, and lists their damage in order.
func (c *checker) verifyCheckpoints(st *entryState) {
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
