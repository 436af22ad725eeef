package tlog

import (
	"crypto/rand"
	"fmt"
	"testing"

	"github.com/transparency-dev/merkle/compact"
)

// BenchmarkReceipt is the receipt of one entry of a batch, as the server
// builds it after a commit: proof from the batch's nodes in memory, the
// tlog-proof encoding, and its check against the checkpoint root.
func BenchmarkReceipt(b *testing.B) {
	const size = 1 << 17
	nodes := NodeMap{}
	tree, _ := NewTree(0, nil)
	leaf := make([]byte, 729)
	rand.Read(leaf)
	for i := range uint64(size) {
		l := fmt.Appendf(nil, "%d", i)
		if i == size-5 {
			l = leaf
		}
		if err := tree.Append(LeafHash(l), func(id compact.NodeID, h []byte) { nodes[id] = h }); err != nil {
			b.Fatal(err)
		}
	}
	root, _ := tree.Root()
	skey, _ := detKey(b, "example.com/log", "bench")
	cp, err := SignCheckpoint(mustSigner(b, skey), "example.com/log", size, root)
	if err != nil {
		b.Fatal(err)
	}
	rb, err := NewReceiptBuilder(cp)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		p, err := InclusionProof(nodes, size-5, size)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := rb.Receipt(size-5, p, leaf); err != nil {
			b.Fatal(err)
		}
	}
}
