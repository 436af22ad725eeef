package store

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"sync/atomic"

	bolt "go.etcd.io/bbolt"
)

// The package-state index: what ListPackages, GetBreaches and GetPackage
// read instead of replaying packages. It is derived (the ledger computes it
// with the reducer and writes it in each batch's transaction), rebuildable
// (RebuildPackageIndex) and checked by verify-db. The store only keeps the
// records; their meaning is the ledger's (internal/ledger/pkgindex.go).
//
//	packages  package id ‖ 0 → the package's indexed state, just before
//	          the package's entry keys (id ‖ 0 ‖ index) in the same bucket
//	pkglist   listing keys (scope, status, package id) → nothing
//	pkgdue    breach keys (scope, party, due time, package id, deadline) →
//	          the time the deadline was met, if it was (the rest is the key)
//
// A state is kept beside its package's entry keys because every append
// writes one of those: the commit's page write for the entry key carries
// the state too, where a bucket of states of its own (index format 3 and
// before, "pkgstate") was one more key range, with its own leaf and branch
// pages, written by every commit (docs/PERFORMANCE.md).
//
// meta "pkgindex" holds the index's format version and the log size it is
// current at (every commit that keeps the index moves it). A file written
// before the index has none, one extended since by a server that does not
// keep it has an older size: the ledger (re)builds the index at open.
var (
	bPkgState = []byte("pkgstate") // format 3 and before; a rebuild drops it
	bPkgList  = []byte("pkglist")
	bPkgDue   = []byte("pkgdue")

	kPkgIndex = []byte("pkgindex")
)

// IndexBucket names one bucket of the package-state index.
type IndexBucket int

// The buckets of the package-state index.
const (
	PkgState IndexBucket = iota
	PkgList
	PkgDue
)

// PackageIndexBuckets are the buckets holding each IndexBucket's records,
// by IndexBucket, for checkers: the states are in packages.
var PackageIndexBuckets = [][]byte{bPackages, bPkgList, bPkgDue}

// StateKey is the packages key of a package's indexed state: its id ‖ 0,
// which sorts just before the package's entry keys (PackageKey).
func StateKey(id string) []byte { return append([]byte(id), 0) }

// IsStateKey says whether a packages key is a state key (StateKey) rather
// than an entry key (PackageKey). Package ids hold no 0 byte.
func IsStateKey(k []byte) bool { return len(k) > 1 && bytes.IndexByte(k, 0) == len(k)-1 }

// IndexOp is one change to the package-state index.
type IndexOp struct {
	Bucket IndexBucket
	Key    []byte // for PkgState a StateKey
	Value  []byte // nil is stored as empty
	Delete bool
}

// ErrAhead: the database holds a commit newer than the size the reader was
// told is durable (bbolt shows a commit just before its last fsync). Wait
// for the next published head and read again.
var ErrAhead = errors.New("store holds a commit not yet published")

// ErrNoPackageIndex: the file has no package-state index yet (written by
// an older server). The ledger builds it at open.
var ErrNoPackageIndex = errors.New("no package-state index")

// View reads one transaction: the package-state index, the package entry
// index, leaves and certificates. Slices it returns are valid only during
// the transaction.
type View struct {
	tx    *bolt.Tx
	reads *atomic.Int64 // counts the keys read, for IndexReads
}

func (v View) read() {
	if v.reads != nil {
		v.reads.Add(1)
	}
}

// ViewOf reads through an open transaction (offline checkers).
func ViewOf(tx *bolt.Tx) View { return View{tx: tx} }

// Size is the log size the transaction sees.
func (v View) Size() uint64 { return getU64(v.tx.Bucket(bMeta).Get(kSize)) }

// PackageState returns the indexed state of a package, nil if none.
func (v View) PackageState(id string) []byte {
	v.read()
	return v.tx.Bucket(bPackages).Get(StateKey(id))
}

// Scan calls fn, in the order of the key suffixes, for the keys of an
// index bucket that start with one of prefixes and whose suffix (the key
// without its prefix) sorts after after (from the first if after is nil),
// until fn returns false. With several prefixes it merges their ranges
// (one cursor each), so a query over several ranges (every status, every
// party) needs no key of its own for the union; a suffix met in several
// ranges (a package in two parties' scopes) is passed to fn once.
func (v View) Scan(b IndexBucket, prefixes [][]byte, after []byte, fn func(suffix, k, v []byte) bool) {
	type head struct {
		c      *bolt.Cursor
		prefix []byte
		k, val []byte
	}
	if b == PkgState {
		return // states are read by id (PackageState), not scanned
	}
	bucket := v.tx.Bucket(PackageIndexBuckets[b])
	heads := make([]*head, 0, len(prefixes))
	for _, prefix := range prefixes {
		h := &head{c: bucket.Cursor(), prefix: prefix}
		start := append(bytes.Clone(prefix), after...)
		h.k, h.val = h.c.Seek(start)
		if after != nil && bytes.Equal(h.k, start) {
			h.k, h.val = h.c.Next()
		}
		if h.k != nil && !bytes.HasPrefix(h.k, prefix) {
			h.k = nil
		}
		heads = append(heads, h)
	}
	var last []byte
	for {
		var next *head
		for _, h := range heads {
			if h.k != nil && (next == nil || bytes.Compare(h.k[len(h.prefix):], next.k[len(next.prefix):]) < 0) {
				next = h
			}
		}
		if next == nil {
			return
		}
		v.read()
		if suffix := next.k[len(next.prefix):]; last == nil || !bytes.Equal(suffix, last) {
			if !fn(suffix, next.k, next.val) {
				return
			}
			last = append(last[:0], suffix...)
		}
		if next.k, next.val = next.c.Next(); next.k != nil && !bytes.HasPrefix(next.k, next.prefix) {
			next.k = nil
		}
	}
}

// PackageEntries calls fn with the indexes of a package's entries above
// after (all if after is 0; the submission is never entry 0), in log
// order, until fn returns false.
func (v View) PackageEntries(id string, after uint64, fn func(index uint64) bool) {
	prefix := append([]byte(id), 0)
	c := v.tx.Bucket(bPackages).Cursor()
	for k, _ := c.Seek(PackageKey(id, after+1)); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
		v.read()
		if len(k) == len(prefix)+8 && !fn(getU64(k[len(prefix):])) {
			return
		}
	}
}

// PackageIDs calls fn with every package id of the package entry index,
// in id order, until it returns false.
func (v View) PackageIDs(fn func(id string) bool) {
	c := v.tx.Bucket(bPackages).Cursor()
	for k, _ := c.First(); k != nil; {
		i := bytes.IndexByte(k, 0)
		if i < 0 {
			k, _ = c.Next()
			continue
		}
		if !fn(string(k[:i])) {
			return
		}
		k, _ = c.Seek(append(bytes.Clone(k[:i]), 1))
	}
}

// Leaf returns the leaf at index i, nil if there is none.
func (v View) Leaf(i uint64) []byte {
	v.read()
	return v.tx.Bucket(bEntries).Get(u64(i))
}

// Leaves calls fn with each stored leaf from index from on, below to, in
// order, from one cursor (a Leaf each seeks from the bucket's root), until
// fn returns false: a range past the log's size calls fn for the leaves it
// holds only. The leaves are the transaction's memory, valid during the
// call.
func (v View) Leaves(from, to uint64, fn func(i uint64, leaf []byte) bool) {
	c := v.tx.Bucket(bEntries).Cursor()
	for k, val := c.Seek(u64(from)); k != nil && getU64(k) < to; k, val = c.Next() {
		v.read()
		if !fn(getU64(k), val) {
			return
		}
	}
}

// Certificate returns a stored certificate by SHA-256, nil if none.
func (v View) Certificate(sha []byte) []byte { return v.tx.Bucket(bCerts).Get(sha) }

// ReadIndex runs fn in one read transaction that sees a log of exactly
// size entries; ErrAhead if it sees more (see ErrAhead), ErrNoPackageIndex
// if the package-state index was never built.
func (s *Store) ReadIndex(size uint64, fn func(View) error) error {
	return s.db.View(func(tx *bolt.Tx) error {
		v := View{tx: tx, reads: &s.indexReads}
		if got := v.Size(); got != size {
			if got > size {
				return fmt.Errorf("%w: size %d, published %d", ErrAhead, got, size)
			}
			return fmt.Errorf("%w: log size %d, below the published %d", ErrConflict, got, size)
		}
		if tx.Bucket(bMeta).Get(kPkgIndex) == nil {
			return ErrNoPackageIndex
		}
		return fn(v)
	})
}

// IndexReads counts the keys ReadIndex transactions have read (index
// keys, states, package entries, leaves) since the store was opened: the
// measure of what a read costs, for tests that it is the answer's size.
func (s *Store) IndexReads() int64 { return s.indexReads.Load() }

// PackageStates returns, in one read transaction, the indexed states of
// the given packages (absent: no such package).
func (s *Store) PackageStates(ids []string) (map[string][]byte, error) {
	out := make(map[string][]byte, len(ids))
	err := s.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bPackages)
		for _, id := range ids {
			if v := b.Get(StateKey(id)); v != nil {
				out[id] = bytes.Clone(v)
			}
		}
		return nil
	})
	return out, err
}

// HasPackageIndex reports whether the package-state index is built in
// format version and current at the log's size.
func (s *Store) HasPackageIndex(version byte) (bool, error) {
	var ok bool
	err := s.db.View(func(tx *bolt.Tx) error {
		meta := tx.Bucket(bMeta)
		v := meta.Get(kPkgIndex)
		ok = len(v) == 9 && v[0] == version && getU64(v[1:]) == getU64(meta.Get(kSize))
		return nil
	})
	return ok, err
}

// RebuildPackageIndex drops the package-state index (the state keys of
// packages, pkglist, pkgdue and an older format's pkgstate) and writes, in
// one transaction, what build emits; build reads the log through the same
// transaction. The file is marked as having the index (format version).
func (s *Store) RebuildPackageIndex(version byte, build func(v View, emit func(IndexOp) error) error) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{bPkgState, bPkgList, bPkgDue} {
			if tx.Bucket(b) != nil {
				if err := tx.DeleteBucket(b); err != nil {
					return err
				}
			}
		}
		for _, b := range [][]byte{bPkgList, bPkgDue} {
			if _, err := tx.CreateBucket(b); err != nil {
				return err
			}
		}
		if err := deleteStates(tx.Bucket(bPackages)); err != nil {
			return err
		}
		bs := openIndexBuckets(tx)
		if err := build(View{tx: tx}, bs.apply); err != nil {
			return fmt.Errorf("rebuild package index: %w", err)
		}
		meta := tx.Bucket(bMeta)
		return meta.Put(kPkgIndex, append([]byte{version}, meta.Get(kSize)...))
	})
}

// indexBuckets are the buckets of the package-state index in tx, by
// IndexBucket, looked up once per transaction rather than once per record.
type indexBuckets [3]*bolt.Bucket

func openIndexBuckets(tx *bolt.Tx) indexBuckets {
	var bs indexBuckets
	for i, name := range PackageIndexBuckets {
		bs[i] = tx.Bucket(name)
		// Keys arrive mostly in order within their ranges (time-ordered
		// ids, increasing due times): full pages, as for the other indexes.
		bs[i].FillPercent = 1.0
	}
	return bs
}

// deleteStates deletes the state keys of packages (collected first: a
// bbolt cursor moved on after a delete may skip a key).
func deleteStates(pkgs *bolt.Bucket) error {
	var states [][]byte
	c := pkgs.Cursor()
	for k, _ := c.First(); k != nil; k, _ = c.Next() {
		if IsStateKey(k) {
			states = append(states, bytes.Clone(k))
		}
	}
	for _, k := range states {
		if err := pkgs.Delete(k); err != nil {
			return err
		}
	}
	return nil
}

func (bs *indexBuckets) apply(op IndexOp) error {
	if op.Bucket < 0 || int(op.Bucket) >= len(bs) {
		return fmt.Errorf("package index: no bucket %d", op.Bucket)
	}
	if op.Bucket == PkgState && !IsStateKey(op.Key) {
		// packages holds the entry keys too: a state must not touch one.
		return fmt.Errorf("package index: %q is not a package state key", op.Key)
	}
	b := bs[op.Bucket]
	if op.Delete {
		return b.Delete(op.Key)
	}
	v := op.Value
	if v == nil {
		v = []byte{}
	}
	return b.Put(op.Key, v)
}

// writePackages writes a batch's entry keys of packages (PackageKey) and
// its changes to the package-state index (applied in order within each
// bucket). The states share the packages bucket with the entry keys, each
// just before its package's: put one set after the other, every state of
// a batch of new packages was inserted in front of the entry keys of the
// packages after it, and bbolt shifts a node's keys after each insertion
// point, so a batch of n cost n²/2 key moves (a mediator node's commits
// of 4,096: more than the rest of the index). Both go in in key order,
// merged, when the batch's state records are sorted.
func writePackages(tx *bolt.Tx, entryKeys [][]byte, ops []IndexOp) error {
	pkgs := tx.Bucket(bPackages)
	pkgs.FillPercent = 1.0
	var bs indexBuckets
	if len(ops) > 0 {
		bs = openIndexBuckets(tx)
	}
	var states []IndexOp // applied with the entry keys
	if len(ops) > 0 && len(entryKeys) > 1 {
		states = make([]IndexOp, 0, len(entryKeys))
		for _, op := range ops {
			if op.Bucket == PkgState {
				states = append(states, op)
			}
		}
		if slices.IsSortedFunc(states, func(a, b IndexOp) int { return bytes.Compare(a.Key, b.Key) }) {
			entryKeys = slices.SortedFunc(slices.Values(entryKeys), bytes.Compare)
		} else {
			states = nil // applied in order with the other records, after the entry keys
		}
	}
	merged := states != nil
	for _, k := range entryKeys {
		for len(states) > 0 && bytes.Compare(states[0].Key, k) < 0 {
			if err := bs.apply(states[0]); err != nil {
				return err
			}
			states = states[1:]
		}
		if err := pkgs.Put(k, nil); err != nil {
			return err
		}
	}
	for _, op := range states {
		if err := bs.apply(op); err != nil {
			return err
		}
	}
	for _, op := range ops {
		if merged && op.Bucket == PkgState {
			continue
		}
		if err := bs.apply(op); err != nil {
			return err
		}
	}
	return nil
}
