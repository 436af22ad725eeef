package store

import (
	"bytes"
	"fmt"

	"github.com/transparency-dev/merkle/compact"
	bolt "go.etcd.io/bbolt"
)

// Size returns the number of committed entries.
func (s *Store) Size() (uint64, error) {
	var n uint64
	err := s.db.View(func(tx *bolt.Tx) error {
		n = getU64(tx.Bucket(bMeta).Get(kSize))
		return nil
	})
	return n, err
}

// AgreementIndex returns the index of the agreement in force, and false if
// the log is empty.
func (s *Store) AgreementIndex() (uint64, bool, error) {
	var idx uint64
	var ok bool
	err := s.db.View(func(tx *bolt.Tx) error {
		v := tx.Bucket(bMeta).Get(kAgreement)
		idx, ok = getU64(v), v != nil
		return nil
	})
	return idx, ok, err
}

// Leaf returns the leaf at index i.
func (s *Store) Leaf(i uint64) ([]byte, error) {
	var out []byte
	err := s.db.View(func(tx *bolt.Tx) error {
		v := tx.Bucket(bEntries).Get(u64(i))
		if v == nil {
			return fmt.Errorf("%w: entry %d", ErrNotFound, i)
		}
		out = bytes.Clone(v)
		return nil
	})
	return out, err
}

// Leaves calls fn for each leaf in [start, end) in order, in one read
// transaction. The slice passed to fn is valid only during the call.
func (s *Store) Leaves(start, end uint64, fn func(index uint64, leaf []byte) error) error {
	return s.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bEntries).Cursor()
		next := start
		for k, v := c.Seek(u64(start)); k != nil && next < end; k, v = c.Next() {
			if getU64(k) != next {
				return fmt.Errorf("%w: entry %d missing", ErrNotFound, next)
			}
			if err := fn(next, v); err != nil {
				return err
			}
			next++
		}
		if next < end {
			return fmt.Errorf("%w: entry %d", ErrNotFound, next)
		}
		return nil
	})
}

// ReadNodes returns the stored hashes of the given perfect subtrees.
func (s *Store) ReadNodes(ids []compact.NodeID) ([][]byte, error) {
	out := make([][]byte, len(ids))
	err := s.db.View(func(tx *bolt.Tx) error {
		hashes := tx.Bucket(bHashes)
		old := tx.Bucket(bOldNodes) // a file opened read-only before migration
		for i, id := range ids {
			var v []byte
			switch {
			case hashes != nil:
				v = hashes.Get(HashKey(id))
			case old != nil:
				if lb := old.Bucket([]byte{byte(id.Level)}); lb != nil {
					v = lb.Get(u64(id.Index))
				}
			}
			if v == nil {
				return fmt.Errorf("%w: Merkle node level %d index %d", ErrNotFound, id.Level, id.Index)
			}
			out[i] = bytes.Clone(v)
		}
		return nil
	})
	return out, err
}

// Checkpoint returns the signed checkpoint for a size.
func (s *Store) Checkpoint(size uint64) ([]byte, error) {
	var out []byte
	err := s.db.View(func(tx *bolt.Tx) error {
		v := tx.Bucket(bCheckpoints).Get(u64(size))
		if v == nil {
			return fmt.Errorf("%w: checkpoint for size %d", ErrNotFound, size)
		}
		out = bytes.Clone(v)
		return nil
	})
	return out, err
}

// CheckpointAtMost returns the checkpoint of the largest size at most max
// (a node copying the log asks for one at the end of each piece).
func (s *Store) CheckpointAtMost(max uint64) (size uint64, note []byte, err error) {
	err = s.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bCheckpoints).Cursor()
		k, v := c.Seek(u64(max))
		switch {
		case k == nil:
			k, v = c.Last()
		case getU64(k) > max:
			k, v = c.Prev()
		}
		if k == nil {
			return fmt.Errorf("%w: no checkpoint of a size at most %d", ErrNotFound, max)
		}
		size, note = getU64(k), bytes.Clone(v)
		return nil
	})
	return size, note, err
}

// LatestCheckpoint returns the checkpoint of the largest size.
func (s *Store) LatestCheckpoint() (size uint64, note []byte, err error) {
	err = s.db.View(func(tx *bolt.Tx) error {
		k, v := tx.Bucket(bCheckpoints).Cursor().Last()
		if k == nil {
			return fmt.Errorf("%w: no checkpoint", ErrNotFound)
		}
		size, note = getU64(k), bytes.Clone(v)
		return nil
	})
	return size, note, err
}

// Certificate returns a DER certificate by SHA-256.
func (s *Store) Certificate(sha []byte) ([]byte, error) {
	var out []byte
	err := s.db.View(func(tx *bolt.Tx) error {
		v := tx.Bucket(bCerts).Get(sha)
		if v == nil {
			return fmt.Errorf("%w: certificate %x", ErrNotFound, sha)
		}
		out = bytes.Clone(v)
		return nil
	})
	return out, err
}

// MessageIndex returns the index of an author's message id.
func (s *Store) MessageIndex(author, messageID string) (uint64, bool, error) {
	key := MsgIDKey(author, messageID)
	found, err := s.MessageIndexes([][]byte{key})
	idx, ok := found[string(key)]
	return idx, ok, err
}

// PackageIndexes returns the indexes of a package's entries in log order.
func (s *Store) PackageIndexes(packageID string) ([]uint64, error) {
	var out []uint64
	prefix := append([]byte(packageID), 0)
	err := s.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bPackages).Cursor()
		for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
			if len(k) == len(prefix)+8 {
				out = append(out, getU64(k[len(prefix):]))
			}
		}
		return nil
	})
	return out, err
}

// PackageIDs calls fn for every package id in id order, starting after
// the id after ("" for the first).
func (s *Store) PackageIDs(after string, fn func(id string) error) error {
	return s.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bPackages).Cursor()
		k, _ := c.First()
		if after != "" {
			k, _ = c.Seek(append([]byte(after), 1))
		}
		for k != nil {
			i := bytes.IndexByte(k, 0)
			if i < 0 {
				return fmt.Errorf("%w: malformed package index key %q", ErrNotFound, k)
			}
			if err := fn(string(k[:i])); err != nil {
				return err
			}
			// Skip the rest of this package's keys: id ‖ 1 sorts after them.
			k, _ = c.Seek(append(bytes.Clone(k[:i]), 1))
		}
		return nil
	})
}

// AgreementIndexes returns the indexes of every agreement entry in order.
func (s *Store) AgreementIndexes() ([]uint64, error) {
	var out []uint64
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bAgreements).ForEach(func(k, _ []byte) error {
			out = append(out, getU64(k))
			return nil
		})
	})
	return out, err
}

// Cosignatures returns the cosignature lines stored for a checkpoint size.
func (s *Store) Cosignatures(size uint64) ([]string, error) {
	var out []string
	prefix := u64(size)
	err := s.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bCosignatures).Cursor()
		for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
			out = append(out, string(v))
		}
		return nil
	})
	return out, err
}

// CosignedSizes calls fn for each checkpoint size with cosignatures, largest
// first, with its lines, until fn returns false.
func (s *Store) CosignedSizes(fn func(size uint64, lines []string) bool) error {
	return s.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bCosignatures).Cursor()
		k, v := c.Last()
		for k != nil {
			size := getU64(k[:8])
			var lines []string
			for ; k != nil && getU64(k[:8]) == size; k, v = c.Prev() {
				lines = append(lines, string(v))
			}
			if !fn(size, lines) {
				return nil
			}
		}
		return nil
	})
}

// LeafBatch returns the leaves from start on, below end, as many as fit in
// maxBytes counting perLeaf bytes more for each, and at least one: a
// reader's answer is bounded in bytes, not in entries.
func (s *Store) LeafBatch(start, end uint64, maxBytes, perLeaf int) ([][]byte, error) {
	var out [][]byte
	err := s.LeafRun(start, end, maxBytes, perLeaf, nil, func(leaves [][]byte) error {
		out = make([][]byte, len(leaves))
		for i, l := range leaves {
			out[i] = bytes.Clone(l)
		}
		return nil
	})
	return out, err
}

// LeafRun calls fn once, inside one read transaction, with the leaves
// LeafBatch would return (from start on, below end, as many as fit in
// maxBytes counting perLeaf bytes more for each, and at least one), but
// as bbolt's own bytes, not copied: they are valid only during the call,
// and fn copies what it keeps. The slice of leaves is made in *scratch
// (nil: a new one), which is left holding its array, cleared, for the
// caller's next call.
func (s *Store) LeafRun(start, end uint64, maxBytes, perLeaf int, scratch *[][]byte, fn func(leaves [][]byte) error) error {
	if start >= end {
		return nil
	}
	var leaves [][]byte
	if scratch != nil {
		leaves = (*scratch)[:0]
	}
	defer func() {
		clear(leaves) // no slice of the file's mapping outlives the transaction
		if scratch != nil {
			*scratch = leaves[:0]
		}
	}()
	return s.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bEntries).Cursor()
		next, n := start, 0
		for k, v := c.Seek(u64(start)); next < end; k, v = c.Next() {
			if k == nil {
				return fmt.Errorf("%w: entry %d", ErrNotFound, next)
			}
			if getU64(k) != next {
				return fmt.Errorf("%w: entry %d missing", ErrNotFound, next)
			}
			if len(leaves) > 0 && n+len(v)+perLeaf > maxBytes {
				break
			}
			leaves = append(leaves, v)
			n += len(v) + perLeaf
			next++
		}
		return fn(leaves)
	})
}

// PackagesLogged reports, in one read transaction, which of the package
// ids have at least one entry.
func (s *Store) PackagesLogged(ids []string) (map[string]bool, error) {
	out := make(map[string]bool, len(ids))
	for _, id := range ids {
		out[id] = false
	}
	err := s.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bPackages).Cursor()
		for _, id := range ids {
			prefix := append([]byte(id), 0)
			for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
				if len(k) == len(prefix)+8 { // as PackageIndexes counts them
					out[id] = true
					break
				}
			}
		}
		return nil
	})
	return out, err
}

// MessageIndexes looks up many message-id keys (see MsgIDKey) in one read
// transaction; keys not found are absent from the result.
func (s *Store) MessageIndexes(keys [][]byte) (map[string]uint64, error) {
	out := map[string]uint64{}
	err := s.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bMsgIDs)
		for _, k := range keys {
			if v := b.Get(k); v != nil {
				out[string(k)] = getU64(v)
			}
		}
		return nil
	})
	return out, err
}
