package tlog

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/transparency-dev/merkle/compact"
)

// TestNodeMapServesBatchProofs: the right edge before a batch plus the
// nodes the batch creates hold every node of the inclusion proof of each
// entry of the batch at the batch's size, and those proofs are the ones a
// store of every node gives.
func TestNodeMapServesBatchProofs(t *testing.T) {
	for _, first := range []uint64{0, 1, 2, 3, 5, 8, 13, 64, 100, 127, 255, 256, 1000} {
		for _, n := range []uint64{1, 2, 3, 7, 16, 33, 100} {
			t.Run(fmt.Sprintf("first=%d,n=%d", first, n), func(t *testing.T) {
				all := newMemNodes()
				tree, _ := NewTree(0, nil)
				for i := range first {
					if err := tree.Append(LeafHash(fmt.Appendf(nil, "leaf %d", i)), all.put); err != nil {
						t.Fatal(err)
					}
				}
				m := NodeMap{}
				tree.Edge(func(id compact.NodeID, h []byte) { m[id] = h })
				for i := first; i < first+n; i++ {
					if err := tree.Append(LeafHash(fmt.Appendf(nil, "leaf %d", i)), func(id compact.NodeID, h []byte) {
						all.put(id, h)
						m[id] = h
					}); err != nil {
						t.Fatal(err)
					}
				}
				size := tree.Size()
				for i := first; i < size; i++ {
					got, err := InclusionProof(m, i, size)
					if err != nil {
						t.Fatalf("index %d: %v", i, err)
					}
					want, err := InclusionProof(all, i, size)
					if err != nil {
						t.Fatal(err)
					}
					if len(got) != len(want) {
						t.Fatalf("index %d: %d hashes, want %d", i, len(got), len(want))
					}
					for j := range got {
						if !bytes.Equal(got[j], want[j]) {
							t.Fatalf("index %d: hash %d differs", i, j)
						}
					}
				}
				// An entry before the batch needs nodes the map lacks.
				if first > 0 && first&(first-1) != 0 {
					if _, err := InclusionProof(m, 0, size); err == nil {
						t.Errorf("proof of index 0 served from a batch's nodes")
					}
				}
			})
		}
	}
}
