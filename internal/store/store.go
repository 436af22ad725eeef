// Package store persists the log in a single bbolt file.
//
// Buckets:
//
//	entries       index (8-byte big endian) → exact leaf bytes
//	hashes        stored-hash index → 32-byte hash of a perfect Merkle subtree
//	checkpoints   size → signed checkpoint note (log signature only)
//	cosignatures  size ‖ cosigner name → signed-note signature line
//	certs         SHA-256 → DER certificate
//	msgids        author URI ‖ 0 ‖ message id → index
//	packages      package id ‖ 0 ‖ index → nothing; package id ‖ 0 → the
//	              package's indexed state (the package-state index)
//	agreements    index of every agreement entry → nothing
//	pkglist, pkgdue  the rest of the package-state index (pkgindex.go)
//	meta          "size", "agreement" (index of the agreement in force),
//	              "pkgindex" (the package-state index's format and the size
//	              it is current at, once built)
//	evidenceheld  what each party's evidence uploads hold on the evidence
//	              store, for its quota (evidenceheld.go); created by the
//	              first upload, neither log nor index
//
// The stored-hash index of the node at (level, index) is
// golang.org/x/mod/sumdb/tlog.StoredHashIndex: it numbers the nodes in the
// order appends complete them, so a batch's nodes are appended at the end
// of one bucket (files written before this layout kept one bucket per level,
// nodes/<level>; Open moves them).
//
// Entries, hashes and checkpoints are the record; msgids, packages,
// agreements, the package-state index and the agreement pointer are indexes that [Store.RebuildIndexes] can recompute
// from the entries.
//
// Guarantees: [Store.Commit] writes a whole batch in one transaction with
// one fsync, or nothing; it refuses a batch that does not start at the
// current size or that would overwrite a checkpoint with a different one.
// Readers run concurrently with the writer. bbolt shows a transaction to
// readers just before its final fsync, so a reader that must not see
// anything not yet durable bounds itself by a size it was told after the
// commit returned (the ledger's published head).
package store

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"sync/atomic"

	"github.com/transparency-dev/merkle/compact"
	bolt "go.etcd.io/bbolt"
	sumtlog "golang.org/x/mod/sumdb/tlog"
)

var (
	bEntries      = []byte("entries")
	bHashes       = []byte("hashes")
	bOldNodes     = []byte("nodes") // the layout before hashes: nodes/<level>
	bCheckpoints  = []byte("checkpoints")
	bCosignatures = []byte("cosignatures")
	bCerts        = []byte("certs")
	bMsgIDs       = []byte("msgids")
	bPackages     = []byte("packages")
	bMeta         = []byte("meta")
	bAgreements   = []byte("agreements")

	kSize      = []byte("size")
	kAgreement = []byte("agreement")
)

// Errors a caller may branch on.
var (
	// ErrConflict means a batch does not extend the stored log, or a
	// checkpoint for its size exists with different contents.
	ErrConflict = errors.New("store conflict")
	// ErrNotFound means the requested record does not exist.
	ErrNotFound = errors.New("not found")
)

// Store is an open database.
type Store struct {
	db   *bolt.DB
	zero *zeroer // nil for read-only and NoSync stores
	// created: Open made the file.
	created bool
	// indexReads counts keys read by ReadIndex (IndexReads).
	indexReads atomic.Int64
}

// Options for Open.
type Options struct {
	// NoSync disables fsync. Only for benchmarks that measure everything
	// else; a server never sets it.
	NoSync bool
	// ReadOnly opens the file for reading only.
	ReadOnly bool
	// InitialMmapSize is the address space bbolt maps at open (0: the
	// file's size). A file that grows by large commits (a node catching
	// up) otherwise remaps, copying every live node out of the old map,
	// each time it outgrows the map. Only address space: no memory is
	// used until pages are touched.
	InitialMmapSize int
	// PageSize is the page size of a file created by this open (0:
	// bbolt's, the OS page size); a file that exists keeps its own.
	PageSize int
}

// DB exposes the bbolt handle for backup and offline checks.
func (s *Store) DB() *bolt.DB { return s.db }

func u64(v uint64) []byte { return binary.BigEndian.AppendUint64(nil, v) }

func getU64(b []byte) uint64 {
	if len(b) != 8 {
		return 0
	}
	return binary.BigEndian.Uint64(b)
}

// Node is one Merkle node hash to persist.
type Node struct {
	ID   compact.NodeID
	Hash []byte
}

// KV is an index record.
type KV struct {
	Key   []byte
	Value []byte
}

// Batch is everything one group commit writes.
type Batch struct {
	// First is the index of Leaves[0]; it must equal the stored size.
	First  uint64
	Leaves [][]byte
	Nodes  []Node
	// Certs by SHA-256; existing ones are left as they are.
	Certs map[string][]byte
	// MsgIDs and Packages are index records (see MsgIDKey, PackageKey).
	MsgIDs   []KV
	Packages [][]byte
	// Checkpoint signed over the tree of size First+len(Leaves).
	Checkpoint []byte
	// Agreement, if set, is the index of a new agreement in force. A batch
	// holds at most one.
	Agreement *uint64
	// PackageIndex are the batch's changes to the package-state index,
	// applied in order.
	PackageIndex []IndexOp
}

// MsgIDKey is the msgids key of an author's message id.
func MsgIDKey(author, messageID string) []byte {
	k := make([]byte, 0, len(author)+1+len(messageID))
	k = append(k, author...)
	k = append(k, 0)
	return append(k, messageID...)
}

// PackageKey is the packages key of one entry of a package.
func PackageKey(packageID string, index uint64) []byte {
	k := make([]byte, 0, len(packageID)+9)
	k = append(k, packageID...)
	k = append(k, 0)
	return binary.BigEndian.AppendUint64(k, index)
}

// Commit writes a batch in one transaction.
func (s *Store) Commit(b *Batch) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		s.zero.ahead(tx)
		return writeBatch(tx, b)
	})
}

func writeBatch(tx *bolt.Tx, b *Batch) error {
	meta := tx.Bucket(bMeta)
	size := getU64(meta.Get(kSize))
	if b.First != size {
		return fmt.Errorf("%w: batch starts at %d, log size is %d", ErrConflict, b.First, size)
	}
	newSize := size + uint64(len(b.Leaves))
	entries := tx.Bucket(bEntries)
	entries.FillPercent = 1.0 // append-only: keep pages full
	for i, leaf := range b.Leaves {
		if err := entries.Put(u64(b.First+uint64(i)), leaf); err != nil {
			return err
		}
	}
	hashes := tx.Bucket(bHashes)
	hashes.FillPercent = 1.0 // appended in key order
	for _, n := range b.Nodes {
		if err := hashes.Put(HashKey(n.ID), n.Hash); err != nil {
			return err
		}
	}
	certs := tx.Bucket(bCerts)
	for fp, der := range b.Certs {
		if certs.Get([]byte(fp)) == nil {
			if err := certs.Put([]byte(fp), der); err != nil {
				return err
			}
		}
	}
	// Index keys arrive mostly in order (time-ordered message ids, and
	// packages keyed by the id of their submission): pages filled before
	// they split, as for the append-only buckets, hold twice as many.
	msgids := tx.Bucket(bMsgIDs)
	msgids.FillPercent = 1.0
	for _, kv := range b.MsgIDs {
		if err := msgids.Put(kv.Key, kv.Value); err != nil {
			return err
		}
	}
	if err := writePackages(tx, b.Packages, b.PackageIndex); err != nil {
		return err
	}
	if b.Checkpoint != nil {
		cps := tx.Bucket(bCheckpoints)
		cps.FillPercent = 1.0
		if old := cps.Get(u64(newSize)); old != nil && !bytes.Equal(old, b.Checkpoint) {
			return fmt.Errorf("%w: a different checkpoint for size %d is already stored", ErrConflict, newSize)
		}
		if err := cps.Put(u64(newSize), b.Checkpoint); err != nil {
			return err
		}
	}
	if b.Agreement != nil {
		if err := meta.Put(kAgreement, u64(*b.Agreement)); err != nil {
			return err
		}
		if err := tx.Bucket(bAgreements).Put(u64(*b.Agreement), nil); err != nil {
			return err
		}
	}
	if v := meta.Get(kPkgIndex); len(v) > 0 {
		// The package-state index is current up to the new size: a file
		// extended by a server that does not keep the index shows it.
		if err := meta.Put(kPkgIndex, append([]byte{v[0]}, u64(newSize)...)); err != nil {
			return err
		}
	}
	return meta.Put(kSize, u64(newSize))
}

// AddCosignature stores a cosigner's signature line for the checkpoint of a
// size, replacing that cosigner's earlier line for the same size.
func (s *Store) AddCosignature(size uint64, cosigner, line string) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		if tx.Bucket(bCheckpoints).Get(u64(size)) == nil {
			return fmt.Errorf("%w: checkpoint for size %d", ErrNotFound, size)
		}
		return tx.Bucket(bCosignatures).Put(append(u64(size), cosigner...), []byte(line))
	})
}

// IndexRecords are the index entries one leaf contributes.
type IndexRecords struct {
	MsgID     []byte // MsgIDKey, or nil
	Package   []byte // PackageKey, or nil
	Agreement bool
}

// RebuildIndexes recomputes every index from the entries in one
// transaction: it drops msgids, packages and agreements, then calls decode
// on each leaf (with a lookup of stored certificates) and writes what it
// returns. The entries, nodes and checkpoints are not touched. Dropping
// packages drops the package states kept there, so the file is marked as
// having no package-state index (RebuildPackageIndex, or the next open,
// builds it).
func (s *Store) RebuildIndexes(decode func(index uint64, leaf []byte, cert func(sha []byte) []byte) (IndexRecords, error)) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{bMsgIDs, bPackages, bAgreements} {
			if err := tx.DeleteBucket(b); err != nil {
				return err
			}
			if _, err := tx.CreateBucket(b); err != nil {
				return err
			}
		}
		certs := tx.Bucket(bCerts)
		cert := func(sha []byte) []byte { return certs.Get(sha) }
		msgids, pkgs, ags := tx.Bucket(bMsgIDs), tx.Bucket(bPackages), tx.Bucket(bAgreements)
		var last *uint64
		c := tx.Bucket(bEntries).Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			i := getU64(k)
			r, err := decode(i, v, cert)
			if err != nil {
				return fmt.Errorf("rebuild indexes: entry %d: %w", i, err)
			}
			if r.MsgID != nil {
				if err := msgids.Put(r.MsgID, u64(i)); err != nil {
					return err
				}
			}
			if r.Package != nil {
				if err := pkgs.Put(r.Package, nil); err != nil {
					return err
				}
			}
			if r.Agreement {
				if err := ags.Put(u64(i), nil); err != nil {
					return err
				}
				last = &i
			}
		}
		if last == nil {
			return fmt.Errorf("rebuild indexes: %w: no agreement entry", ErrNotFound)
		}
		if err := tx.Bucket(bMeta).Delete(kPkgIndex); err != nil {
			return err
		}
		return tx.Bucket(bMeta).Put(kAgreement, u64(*last))
	})
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// HashKey is the key of a tree node in the hashes bucket: its stored-hash
// index (golang.org/x/mod/sumdb/tlog.StoredHashIndex), 8 bytes big endian.
func HashKey(id compact.NodeID) []byte {
	return u64(uint64(sumtlog.StoredHashIndex(int(id.Level), int64(id.Index))))
}

// HashID is the node a hashes key names; false if the key is not 8 bytes.
func HashID(key []byte) (compact.NodeID, bool) {
	if len(key) != 8 || key[0]&0x80 != 0 {
		return compact.NodeID{}, false
	}
	level, n := sumtlog.SplitStoredHashIndex(int64(getU64(key)))
	return compact.NewNodeID(uint(level), uint64(n)), true
}

// migrateNodes moves the tree nodes of a file written with one bucket per
// level (nodes/<level>) into the hashes bucket, in the same transaction
// as Open's bucket creation: a file is either migrated whole or not at
// all. The levels are merged in stored-hash order, so the new bucket is
// written as the server writes it, append-only with full pages. The move
// is one way: an older server cannot open the file afterwards.
func migrateNodes(tx *bolt.Tx) error {
	old := tx.Bucket(bOldNodes)
	if old == nil {
		return nil
	}
	type level struct {
		c      *bolt.Cursor
		l      uint
		v, key []byte // the cursor's value and its hashes key; key nil at the end
	}
	advance := func(lv *level, k, v []byte) error {
		lv.key, lv.v = nil, v
		if k == nil {
			return nil
		}
		if len(k) != 8 {
			return fmt.Errorf("migrate tree nodes: level %d key %x is not an index", lv.l, k)
		}
		lv.key = HashKey(compact.NewNodeID(lv.l, getU64(k)))
		return nil
	}
	var levels []*level
	err := old.ForEachBucket(func(name []byte) error {
		if len(name) != 1 {
			return fmt.Errorf("migrate tree nodes: %q is not a level", name)
		}
		lv := &level{c: old.Bucket(name).Cursor(), l: uint(name[0])}
		levels = append(levels, lv)
		k, v := lv.c.First()
		return advance(lv, k, v)
	})
	if err != nil {
		return err
	}
	hashes := tx.Bucket(bHashes)
	hashes.FillPercent = 1.0
	for {
		var next *level
		for _, lv := range levels {
			if lv.key != nil && (next == nil || bytes.Compare(lv.key, next.key) < 0) {
				next = lv
			}
		}
		if next == nil {
			break
		}
		if err := hashes.Put(next.key, bytes.Clone(next.v)); err != nil {
			return err
		}
		k, v := next.c.Next()
		if err := advance(next, k, v); err != nil {
			return err
		}
	}
	return tx.DeleteBucket(bOldNodes)
}
