package store

import (
	"bytes"
	"fmt"
	"math"

	bolt "go.etcd.io/bbolt"
)

// StoredCheckpoint is a signed checkpoint as stored, with the cosignatures
// stored for its size (by cosigner name).
type StoredCheckpoint struct {
	Size         uint64
	Note         []byte
	Cosignatures []Cosignature
}

// Cosignature is one cosigner's signature line on a checkpoint.
type Cosignature struct {
	Cosigner string
	Line     string
}

// Lines are the cosignature lines of cp.
func (cp StoredCheckpoint) Lines() []string {
	out := make([]string, len(cp.Cosignatures))
	for i, c := range cp.Cosignatures {
		out[i] = c.Line
	}
	return out
}

// What a page's answer adds to the notes and lines it counts: a
// checkpoint goes out as a protobuf bytes field (a tag and a length of up
// to 5 bytes, 8 with room) and each cosignature line is joined to its
// note with a newline (2 with room), so that maxBytes bounds the
// message, not only its notes.
const (
	checkpointFraming = 8
	lineFraming       = 2
)

// Checkpoints returns, in one read transaction, the stored checkpoints of
// a size greater than after and at most atMost (0: no bound), smallest
// first, each with its cosignatures: at most maxCount of them, and no more
// than fit in maxBytes (notes, lines and their framing counted), at least one. more says
// whether others follow. The cost is that of the answer.
func (s *Store) Checkpoints(after, atMost uint64, maxCount, maxBytes int) (out []StoredCheckpoint, more bool, err error) {
	if after == math.MaxUint64 {
		return nil, false, nil
	}
	err = s.db.View(func(tx *bolt.Tx) error {
		cosigs := tx.Bucket(bCosignatures).Cursor()
		c := tx.Bucket(bCheckpoints).Cursor()
		n := 0
		for k, v := c.Seek(u64(after + 1)); k != nil; k, v = c.Next() {
			size := getU64(k)
			if atMost > 0 && size > atMost {
				return nil
			}
			cp := StoredCheckpoint{Size: size, Note: bytes.Clone(v)}
			cost := len(v) + checkpointFraming
			for ck, cv := cosigs.Seek(k); ck != nil && bytes.HasPrefix(ck, k); ck, cv = cosigs.Next() {
				cp.Cosignatures = append(cp.Cosignatures, Cosignature{Cosigner: string(ck[8:]), Line: string(cv)})
				cost += len(cv) + lineFraming
			}
			if len(out) > 0 && (len(out) >= maxCount || n+cost > maxBytes) {
				more = true
				return nil
			}
			out = append(out, cp)
			n += cost
		}
		return nil
	})
	return out, more, err
}

// AddCheckpoints stores signed checkpoints of sizes the log holds, with
// their cosignatures, in one transaction: a copy of a log (the restore)
// writes the checkpoints that fall between the batches it commits. The
// caller has checked each against the tree and each cosignature against
// its key; a size beyond the log, or one holding a different checkpoint,
// is refused and nothing is written.
func (s *Store) AddCheckpoints(cps []StoredCheckpoint) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		size := getU64(tx.Bucket(bMeta).Get(kSize))
		b, cb := tx.Bucket(bCheckpoints), tx.Bucket(bCosignatures)
		for _, cp := range cps {
			if cp.Size == 0 || cp.Size > size {
				return fmt.Errorf("%w: a checkpoint of size %d in a log of size %d", ErrConflict, cp.Size, size)
			}
			if old := b.Get(u64(cp.Size)); old != nil && !bytes.Equal(old, cp.Note) {
				return fmt.Errorf("%w: a different checkpoint for size %d is already stored", ErrConflict, cp.Size)
			}
			if err := b.Put(u64(cp.Size), cp.Note); err != nil {
				return err
			}
			for _, c := range cp.Cosignatures {
				if err := cb.Put(append(u64(cp.Size), c.Cosigner...), []byte(c.Line)); err != nil {
					return err
				}
			}
		}
		return nil
	})
}
