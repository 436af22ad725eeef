package chunkcodec

import (
	"bytes"
	"testing"

	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/proto"

	mvmv1 "github.com/mvm-exchange/mvm/proto/mvm/v1"
)

// EncodeEntries gives, byte for byte, what proto.Marshal gives for the
// response, at its exact size; Marshal passes it on once, and a second
// send is an error.
func TestEncodeEntries(t *testing.T) {
	pool, err := mem.NewBinaryTieredBufferPool(8, 12, 15)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name   string
		first  uint64
		leaves [][]byte
	}{
		{"empty, first 0", 0, nil},
		{"first 0 (left out)", 0, [][]byte{data(10)}},
		{"first 1", 1, [][]byte{data(10)}},
		{"first's varint edges", 127, [][]byte{data(1), data(128)}},
		{"first 128", 128, [][]byte{data(127)}},
		{"first at the top", 1<<64 - 1, [][]byte{data(3)}},
		{"empty leaves kept", 5, [][]byte{{}, data(2), {}}},
		{"length varint edges", 1 << 20, [][]byte{data(127), data(128), data(16383), data(16384)}},
		{"over the largest pooled size", 9, [][]byte{data(40 << 10)}},
	} {
		t.Run(c.name, func(t *testing.T) {
			m := &mvmv1.GetEntriesResponse{FirstIndex: c.first, Leaves: c.leaves}
			want, err := proto.Marshal(m)
			if err != nil {
				t.Fatal(err)
			}
			e := EncodeEntries(pool, c.first, c.leaves)
			if e.Len() != len(want) || EntriesSize(c.first, c.leaves) != len(want) {
				t.Errorf("Len %d, EntriesSize %d, want %d", e.Len(), EntriesSize(c.first, c.leaves), len(want))
			}
			out, err := Codec{}.Marshal(e)
			if err != nil {
				t.Fatal(err)
			}
			if got := out.Materialize(); !bytes.Equal(got, want) {
				t.Errorf("encoded %x, proto.Marshal gives %x", got, want)
			}
			out.Free()
			if _, err := (Codec{}).Marshal(e); err == nil || e.Len() != 0 {
				t.Errorf("sent twice: error %v, Len %d", err, e.Len())
			}
		})
	}
}
