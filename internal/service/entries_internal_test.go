package service

import (
	"bytes"
	"path/filepath"
	"slices"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/mvm-exchange/mvm/internal/chunkcodec"
	"github.com/mvm-exchange/mvm/internal/store"
	mvmv1 "github.com/mvm-exchange/mvm/proto/mvm/v1"
)

// TestEntriesMessageAsMarshalled: a GetEntries message encoded straight
// from the read transaction is, byte for byte, what the server sent
// before (proto.Marshal of the response made of LeafBatch's copies), it
// decodes to that response, and it cuts the log where the message bound
// says, for leaves of sizes around the bound and the varints' edges, from
// index 0 (first_index left out) and from further on.
func TestEntriesMessageAsMarshalled(t *testing.T) {
	budget := MaxMessageBytes - messageOverhead // what LeafBatch is given
	for _, c := range []struct {
		name   string
		leaves []int // sizes
		want   []int // leaves in each message, from index 0
	}{
		{"one leaf", []int{10}, []int{1}},
		{"empty leaves", []int{0, 5, 0}, []int{3}},
		{"length varint edges", []int{127, 128, 16383, 16384}, []int{3, 1}},
		{"exactly the bound", []int{budget/4 - leafOverhead, budget/4 - leafOverhead, budget/4 - leafOverhead, budget/4 - leafOverhead, 1}, []int{4, 1}},
		{"one byte over the bound", []int{budget/4 - leafOverhead, budget/4 - leafOverhead, budget/4 - leafOverhead, budget/4 - leafOverhead + 1, 1}, []int{3, 2}},
		{"a leaf over the bound goes alone", []int{40000, 10, 40000, 300}, []int{1, 1, 1, 1}},
		{"many small", slices.Repeat([]int{200}, 400), nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			st := entriesStore(t, c.leaves)
			end := uint64(len(c.leaves))
			for _, start := range []uint64{0, 1, end - 1} {
				var scratch [][]byte
				var counts []int
				for next := start; next < end; {
					m, n, err := entriesMessage(st, next, end, &scratch)
					if err != nil {
						t.Fatal(err)
					}
					got := marshalled(t, m)
					leaves, err := st.LeafBatch(next, end, budget, leafOverhead)
					if err != nil {
						t.Fatal(err)
					}
					old := &mvmv1.GetEntriesResponse{FirstIndex: next, Leaves: leaves}
					want, err := proto.Marshal(old)
					if err != nil {
						t.Fatal(err)
					}
					if !bytes.Equal(got, want) {
						t.Fatalf("from %d, message at %d: %d bytes, not the %d proto.Marshal gives", start, next, len(got), len(want))
					}
					var dec mvmv1.GetEntriesResponse
					if err := proto.Unmarshal(got, &dec); err != nil || !proto.Equal(&dec, old) {
						t.Fatalf("from %d, message at %d decodes to %d leaves from %d (%v), want %d from %d", start, next, len(dec.Leaves), dec.FirstIndex, err, len(leaves), next)
					}
					if n != uint64(len(leaves)) {
						t.Fatalf("from %d, message at %d: %d leaves counted, %d encoded", start, next, n, len(leaves))
					}
					if n > 1 && len(got) > MaxMessageBytes {
						t.Errorf("from %d, message at %d: %d bytes in %d leaves, over %d", start, next, len(got), n, MaxMessageBytes)
					}
					counts = append(counts, int(n))
					next += n
				}
				if start == 0 && c.want != nil && !slices.Equal(counts, c.want) {
					t.Errorf("leaves a message: got %v, want %v", counts, c.want)
				}
			}
		})
	}
}

// entriesStore is a store (a real bbolt file) holding leaves of the sizes
// given, each of its own bytes.
func entriesStore(t *testing.T, sizes []int) *store.Store {
	t.Helper()
	st, err := store.Open(filepath.Join(t.TempDir(), "mvm.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	b := &store.Batch{Checkpoint: []byte("checkpoint")}
	for i, n := range sizes {
		b.Leaves = append(b.Leaves, bytes.Repeat([]byte{byte(i + 1)}, n))
	}
	if err := st.Commit(b); err != nil {
		t.Fatal(err)
	}
	return st
}

// marshalled is what the server's codec hands gRPC for m.
func marshalled(t *testing.T, m *chunkcodec.Encoded) []byte {
	t.Helper()
	data, err := chunkcodec.Codec{Other: protoCodec{}}.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	defer data.Free()
	return data.Materialize()
}
