package node

import (
	"errors"
	"testing"
)

// TestBatcher: leaves reach the verifier in order, every one once, in
// pushes of pushBatch but the last; a failed push leaves first at the
// first leaf it held.
func TestBatcher(t *testing.T) {
	// Leaves added one at a time (a node's rebuild from its file) and 45
	// at a time (a GetEntries message of the primary's).
	for _, per := range []int{1, 45} {
		var got []byte
		var sizes []int
		b := batcher{first: 10, push: func(leaves ...[]byte) error {
			sizes = append(sizes, len(leaves))
			for _, l := range leaves {
				got = append(got, l[0])
			}
			return nil
		}}
		var want []byte
		total := 2*pushBatch + 45
		for i := 0; i < total; i += per {
			var msg [][]byte
			for j := i; j < min(i+per, total); j++ {
				leaf := []byte{byte(j)}
				want = append(want, leaf[0])
				msg = append(msg, leaf)
			}
			if err := b.add(msg); err != nil {
				t.Fatal(err)
			}
		}
		if err := b.flush(); err != nil {
			t.Fatal(err)
		}
		if string(got) != string(want) {
			t.Errorf("%d a time: the verifier got the leaves out of order or not all of them (%d of %d)", per, len(got), len(want))
		}
		if len(sizes) != 3 || sizes[0] != pushBatch || sizes[1] != pushBatch || sizes[2] != 45 {
			t.Errorf("%d a time: pushes of %v, want %d, %d, 45", per, sizes, pushBatch, pushBatch)
		}
		if b.first != 10+uint64(total) {
			t.Errorf("%d a time: first %d after every push, want %d", per, b.first, 10+total)
		}
	}

	bad := errors.New("entry refused")
	b := batcher{first: 7, push: func(...[]byte) error { return bad }}
	if err := b.add(make([][]byte, pushBatch)); !errors.Is(err, bad) {
		t.Fatalf("a failing push: %v, want its error", err)
	}
	if b.first != 7 {
		t.Errorf("first %d after a failed push, want 7 (its first leaf)", b.first)
	}
}
