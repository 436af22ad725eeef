package node

import (
	"errors"
	"testing"
)

// TestBatcher: leaves reach the verifier in order, every one once, in
// pushes of pushBatch but the last; a failed push leaves first at the
// first leaf it held.
func TestBatcher(t *testing.T) {
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
	for i := range 2*pushBatch + 45 {
		leaf := []byte{byte(i)}
		want = append(want, leaf[0])
		if err := b.add([][]byte{leaf}); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.flush(); err != nil {
		t.Fatal(err)
	}
	if string(got) != string(want) {
		t.Errorf("the verifier got the leaves out of order or not all of them (%d of %d)", len(got), len(want))
	}
	if len(sizes) != 3 || sizes[0] != pushBatch || sizes[1] != pushBatch || sizes[2] != 45 {
		t.Errorf("pushes of %v, want %d, %d, 45", sizes, pushBatch, pushBatch)
	}
	if b.first != 10+uint64(2*pushBatch+45) {
		t.Errorf("first %d after every push, want %d", b.first, 10+2*pushBatch+45)
	}

	bad := errors.New("entry refused")
	b = batcher{first: 7, push: func(...[]byte) error { return bad }}
	if err := b.add(make([][]byte, pushBatch)); !errors.Is(err, bad) {
		t.Fatalf("a failing push: %v, want its error", err)
	}
	if b.first != 7 {
		t.Errorf("first %d after a failed push, want 7 (its first leaf)", b.first)
	}
}
