package store

import (
	"encoding/binary"
	"errors"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// The evidence holds: what each party's evidence uploads hold on the
// evidence store (package evidence), the count behind the per-party
// evidence quota. They are not in the log and not derived from it: an
// unfinished upload, or a file uploaded that no submission names yet,
// takes disk space the log does not show. A backup carries them; a file
// rebuilt from entries alone starts with none.
//
//	evidenceheld  'h' ‖ name → size (8-byte big endian) ‖ party: one hold
//	                per name on the evidence store (a stored object's
//	                digest, or the key an unfinished upload is held under)
//	              'p' ‖ party → the sum of the party's holds
//
// A hold and its party's sum change in one transaction, so the sums are
// exact after any crash.
var bEvidenceHeld = []byte("evidenceheld")

// ErrOverQuota: a hold would take its party past its limit; nothing was
// recorded.
var ErrOverQuota = errors.New("over the party's evidence quota")

// EvidenceHold is what one name on the evidence store holds, and whose.
type EvidenceHold struct {
	Party string
	Size  int64
}

func holdKey(name []byte) []byte   { return append([]byte{'h'}, name...) }
func partyKey(party string) []byte { return append([]byte{'p'}, party...) }

func decodeHold(v []byte) (EvidenceHold, bool) {
	if len(v) < 8 {
		return EvidenceHold{}, false
	}
	return EvidenceHold{Size: int64(binary.BigEndian.Uint64(v)), Party: string(v[8:])}, true
}

func encodeHold(h EvidenceHold) []byte {
	return append(binary.BigEndian.AppendUint64(nil, uint64(h.Size)), h.Party...)
}

// EvidenceHeld returns the bytes party's holds add up to.
func (s *Store) EvidenceHeld(party string) (int64, error) {
	var n int64
	err := s.db.View(func(tx *bolt.Tx) error {
		if b := tx.Bucket(bEvidenceHeld); b != nil {
			n = int64(getU64(b.Get(partyKey(party))))
		}
		return nil
	})
	return n, err
}

// EvidenceHoldOf returns the hold under name, if any.
func (s *Store) EvidenceHoldOf(name []byte) (EvidenceHold, bool, error) {
	var h EvidenceHold
	var ok bool
	err := s.db.View(func(tx *bolt.Tx) error {
		if b := tx.Bucket(bEvidenceHeld); b != nil {
			h, ok = decodeHold(b.Get(holdKey(name)))
		}
		return nil
	})
	return h, ok, err
}

// HoldEvidence records that name holds size bytes of party's. A hold of
// at least size bytes under name is kept as it is, whoever's (the bytes
// are counted once). Otherwise the hold becomes party's, of size bytes,
// unless party's holds would then add up to more than limit (limit < 0:
// no limit): then nothing changes and the error wraps [ErrOverQuota].
// held is party's sum before the call (0 when the hold was there).
func (s *Store) HoldEvidence(name []byte, party string, size, limit int64) (held int64, err error) {
	// A resumed upload's hold is there already: no write (and no fsync).
	if old, ok, err := s.EvidenceHoldOf(name); err != nil || (ok && old.Size >= size) {
		return 0, err
	}
	err = s.db.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(bEvidenceHeld)
		if err != nil {
			return err
		}
		old, had := decodeHold(b.Get(holdKey(name)))
		if had && old.Size >= size {
			return nil
		}
		held = int64(getU64(b.Get(partyKey(party))))
		after := held + size
		if had && old.Party == party {
			after -= old.Size
		}
		if limit >= 0 && after > limit {
			return fmt.Errorf("party %s holds %d bytes; with %d more, %d: %w", party, held, size, after, ErrOverQuota)
		}
		if had {
			if err := addHeld(b, old.Party, -old.Size); err != nil {
				return err
			}
		}
		if err := addHeld(b, party, size); err != nil {
			return err
		}
		return b.Put(holdKey(name), encodeHold(EvidenceHold{Party: party, Size: size}))
	})
	return held, err
}

// MoveEvidenceHold moves the hold under from to the name to (an upload
// held under a key, stored under its digest). When to has a hold already
// (the same bytes were stored before), from's is dropped instead.
func (s *Store) MoveEvidenceHold(from, to []byte) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(bEvidenceHeld)
		if err != nil {
			return err
		}
		h, ok := decodeHold(b.Get(holdKey(from)))
		if !ok {
			return nil
		}
		if err := b.Delete(holdKey(from)); err != nil {
			return err
		}
		if b.Get(holdKey(to)) != nil {
			return addHeld(b, h.Party, -h.Size)
		}
		return b.Put(holdKey(to), encodeHold(h))
	})
}

// ReleaseEvidence drops the hold under name, if any: the store holds
// nothing under it.
func (s *Store) ReleaseEvidence(name []byte) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bEvidenceHeld)
		if b == nil {
			return nil
		}
		h, ok := decodeHold(b.Get(holdKey(name)))
		if !ok {
			return nil
		}
		if err := b.Delete(holdKey(name)); err != nil {
			return err
		}
		return addHeld(b, h.Party, -h.Size)
	})
}

func addHeld(b *bolt.Bucket, party string, n int64) error {
	k := partyKey(party)
	sum := int64(getU64(b.Get(k))) + n
	if sum <= 0 {
		return b.Delete(k)
	}
	return b.Put(k, u64(uint64(sum)))
}
