package spill

import "fmt"

// The map's in-memory index: a slot per key, fingerprint and offset.

func slot(fp uint64, off int64) uint64 { return fp<<offBits | uint64(off/align+1) }

func slotOffset(s uint64) int64 { return int64(s&(1<<offBits-1)-1) * align }

// index is an open-addressing hash table (linear probing) of slots
// fingerprint<<offBits | offset/align+1. A key's home slot is given by the
// top bits of its fingerprint, so the table grows without the keys.
type index struct {
	slots   []uint64
	release func()
	bits    int
	n       int
}

func (x *index) init(bits int) error {
	s, release, err := allocWords(1 << bits)
	if err != nil {
		return fmt.Errorf("spill: index of %d slots: %w", 1<<bits, err)
	}
	x.slots, x.release, x.bits = s, release, bits
	return nil
}

func (x *index) mask() uint64          { return uint64(len(x.slots) - 1) }
func (x *index) home(fp uint64) uint64 { return fp >> (fpBits - x.bits) }

// empty returns the first empty slot from fp's home on.
func (x *index) empty(fp uint64) int {
	i := x.home(fp)
	for x.slots[i] != 0 {
		i = (i + 1) & x.mask()
	}
	return int(i)
}

// exact returns the slot holding exactly fingerprint fp and offset off,
// or -1.
func (x *index) exact(fp uint64, off int64) int {
	want := slot(fp, off)
	for i := x.home(fp); ; i = (i + 1) & x.mask() {
		switch x.slots[i] {
		case want:
			return int(i)
		case 0:
			return -1
		}
	}
}

func (x *index) grow() error {
	old, release := x.slots, x.release
	if err := x.init(x.bits + 1); err != nil {
		return err
	}
	for _, s := range old {
		if s != 0 {
			x.slots[x.empty(s>>offBits)] = s
		}
	}
	release()
	return nil
}
