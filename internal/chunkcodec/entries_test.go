package chunkcodec

import (
	"bytes"
	"testing"

	"google.golang.org/grpc/encoding"
	_ "google.golang.org/grpc/encoding/proto" // gRPC's proto codec, to compare with
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/encoding/protowire"
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

// entriesCases are GetEntriesResponse encodings, valid or not, each
// decoded by Unmarshal and by proto.Unmarshal in the tests below.
func entriesCases(t testing.TB) map[string][]byte {
	std, err := proto.Marshal(&mvmv1.GetEntriesResponse{FirstIndex: 300, Leaves: [][]byte{data(10), {}, data(200), data(1)}})
	if err != nil {
		t.Fatal(err)
	}
	app := func(b []byte, more ...byte) []byte { return append(bytes.Clone(b), more...) }
	withField := func(num protowire.Number, typ protowire.Type, v []byte) []byte {
		return append(protowire.AppendTag(bytes.Clone(std), num, typ), v...)
	}
	return map[string][]byte{
		"empty":                   nil,
		"leaves":                  std,
		"first only":              {0x08, 0x05},
		"first twice (last wins)": app(std, 0x08, 0x07),
		"first after leaves":      app(std[3:], 0x08, 0x01),
		"first over-long varint":  app(std, 0x08, 0x81, 0x80, 0x80, 0x00),
		"first overflows":         app(std, 0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f),
		"first truncated":         app(std, 0x08, 0x80),
		"first as bytes":          withField(1, protowire.BytesType, []byte{1, 9}),
		"leaves as varint":        withField(2, protowire.VarintType, []byte{3}),
		"unknown varint":          withField(3, protowire.VarintType, []byte{3}),
		"unknown bytes":           withField(9, protowire.BytesType, []byte{2, 'h', 'i'}),
		"unknown fixed64":         withField(4, protowire.Fixed64Type, data(8)),
		"group":                   protowire.AppendTag(withField(5, protowire.StartGroupType, nil), 5, protowire.EndGroupType),
		"leaf truncated":          std[:len(std)-1],
		"leaf length past end":    app(std, 0x12, 0x05, 1, 2),
		"length overflows":        app(std, 0x12, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01),
		"bad tag":                 app(std, 0x80),
		"field 0":                 app(std, 0x00, 0x00),
	}
}

// Unmarshal decodes a GetEntriesResponse as proto.Unmarshal does, valid
// or not, from frames of any size.
func TestUnmarshalEntriesAsProto(t *testing.T) {
	for name, b := range entriesCases(t) {
		want := new(mvmv1.GetEntriesResponse)
		wantErr := proto.Unmarshal(b, want)
		for _, k := range []int{1, 7, 16 << 10} {
			got := &mvmv1.GetEntriesResponse{FirstIndex: 99, Leaves: [][]byte{data(3)}} // overwritten
			err := Codec{}.Unmarshal(frames(b, k), got)
			if (err != nil) != (wantErr != nil) {
				t.Fatalf("%s, frames of %d: error %v, proto.Unmarshal's %v", name, k, err, wantErr)
			}
			if err == nil && !proto.Equal(got, want) {
				t.Fatalf("%s, frames of %d: decoded %v, proto.Unmarshal gives %v", name, k, got, want)
			}
		}
	}
}

// The leaves are slices of one copy of the message, not of gRPC's
// buffers, each capped at its end: appending to one leaves the next as
// it was, and reusing the frames changes nothing decoded.
func TestUnmarshalEntriesOwnsLeaves(t *testing.T) {
	leaves := [][]byte{data(10), data(20), data(30)}
	b, _ := proto.Marshal(&mvmv1.GetEntriesResponse{FirstIndex: 4, Leaves: leaves})
	in := frames(b, 16)
	got := new(mvmv1.GetEntriesResponse)
	if err := (Codec{}).Unmarshal(in, got); err != nil {
		t.Fatal(err)
	}
	for _, buf := range in {
		clear(buf.ReadOnlyData()) // as a pool reusing gRPC's buffers would
	}
	_ = append(got.Leaves[0], 0xee, 0xee, 0xee)
	for i, l := range got.Leaves {
		if !bytes.Equal(l, leaves[i]) || cap(l) != len(l) {
			t.Fatalf("leaf %d: %x (cap %d), want %x", i, l, cap(l), leaves[i])
		}
	}
}

func FuzzUnmarshalEntries(f *testing.F) {
	for _, b := range entriesCases(f) {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		want := new(mvmv1.GetEntriesResponse)
		wantErr := proto.Unmarshal(b, want)
		got := new(mvmv1.GetEntriesResponse)
		err := Codec{}.Unmarshal(frames(b, 5), got)
		if (err != nil) != (wantErr != nil) {
			t.Fatalf("error %v, proto.Unmarshal's %v", err, wantErr)
		}
		if err == nil && !proto.Equal(got, want) {
			t.Fatalf("decoded %v, proto.Unmarshal gives %v", got, want)
		}
	})
}

// A message of a node's catch-up: ~30 leaves of ~1 KiB (the 32 KiB
// bound), decoded by gRPC's proto codec and by this one.
func BenchmarkUnmarshalEntries(b *testing.B) {
	leaves := make([][]byte, 30)
	for i := range leaves {
		leaves[i] = data(1000 + i)
	}
	enc, _ := proto.Marshal(&mvmv1.GetEntriesResponse{FirstIndex: 1 << 20, Leaves: leaves})
	in := frames(enc, 16<<10)
	for _, c := range []struct {
		name  string
		codec interface {
			Unmarshal(mem.BufferSlice, any) error
		}
	}{{"grpc proto", encoding.GetCodecV2("proto")}, {"chunkcodec", Codec{}}} {
		b.Run(c.name, func(b *testing.B) {
			b.SetBytes(int64(len(enc)))
			b.ReportAllocs()
			for b.Loop() {
				m := new(mvmv1.GetEntriesResponse)
				if err := c.codec.Unmarshal(in, m); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
