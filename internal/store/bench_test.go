package store

import (
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/transparency-dev/merkle/compact"
)

// BenchmarkCommit measures one group commit (fsync on) of a batch of
// entries with their index records and tree nodes, as the ledger writes it.
func BenchmarkCommit(b *testing.B) {
	for _, n := range []int{1, 64, 512} {
		b.Run(fmt.Sprintf("batch=%d", n), func(b *testing.B) {
			s, err := Open(filepath.Join(b.TempDir(), "bench.db"), Options{})
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			leaf := make([]byte, 700)
			rand.Read(leaf)
			var next uint64
			b.ResetTimer()
			for range b.N {
				batch := &Batch{First: next, Certs: map[string][]byte{}}
				for j := range n {
					idx := next + uint64(j)
					batch.Leaves = append(batch.Leaves, leaf)
					h := sha256.Sum256(append(leaf, byte(idx), byte(idx>>8), byte(idx>>16)))
					batch.Nodes = append(batch.Nodes, Node{ID: compact.NewNodeID(0, idx), Hash: h[:]})
					batch.Nodes = append(batch.Nodes, Node{ID: compact.NewNodeID(1, idx/2), Hash: h[:]})
					// Time-ordered ids, as mvmclient.NewMessageID makes them.
					id := fmt.Sprintf("%012x%x", idx, h[:6])
					batch.MsgIDs = append(batch.MsgIDs, KV{Key: MsgIDKey("spiffe://mvm.example/party/pk/pk-liaison", id), Value: u64(idx)})
					batch.Packages = append(batch.Packages, PackageKey(id, idx))
				}
				batch.Checkpoint = []byte(fmt.Sprintf("checkpoint %d", next+uint64(n)))
				if err := s.Commit(batch); err != nil {
					b.Fatal(err)
				}
				next += uint64(n)
			}
			b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N*n), "µs/entry")
		})
	}
}
