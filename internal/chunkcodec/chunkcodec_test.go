package chunkcodec

import (
	"bytes"
	"testing"

	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	mvmv1 "github.com/mvm-exchange/mvm/proto/mvm/v1"
)

// frames cuts b into buffers of k bytes, as HTTP/2 frames arrive.
func frames(b []byte, k int) mem.BufferSlice {
	var s mem.BufferSlice
	for len(b) > 0 {
		n := min(k, len(b))
		s = append(s, mem.SliceBuffer(bytes.Clone(b[:n])))
		b = b[n:]
	}
	return s
}

func data(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i * 7)
	}
	return b
}

// Marshal gives bytes proto.Unmarshal reads back as the message, and
// leaves the message as it was.
func TestMarshalIsProtobuf(t *testing.T) {
	for _, m := range []proto.Message{
		&mvmv1.UploadEvidenceRequest{PackageId: "p1", Sha256: data(32), Size: 1 << 40, Offset: 12345, Data: data(256 << 10), UploadKey: data(32)},
		&mvmv1.UploadEvidenceRequest{Data: data(300 << 10)}, // more than a pooled buffer
		&mvmv1.UploadEvidenceRequest{Data: data(100)},       // small: the other codec
		&mvmv1.DownloadEvidenceResponse{Size: 7, Data: data(256 << 10)},
		&mvmv1.DownloadEvidenceResponse{Data: data(minChunk)},
	} {
		before := proto.Clone(m)
		out, err := Codec{}.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		got := m.ProtoReflect().New().Interface()
		if err := proto.Unmarshal(out.Materialize(), got); err != nil {
			t.Fatal(err)
		}
		out.Free()
		if !proto.Equal(got, m) {
			t.Errorf("%T: decoded differs from what was encoded", m)
		}
		if !proto.Equal(m, before) {
			t.Errorf("%T: Marshal changed the message", m)
		}
	}
}

// Unmarshal gives what proto.Unmarshal gives, from frames of any size,
// for protobuf encoded by proto.Marshal (data not last), with repeated
// data fields (the last wins) and unknown fields; truncated or invalid
// input is an error.
func TestUnmarshalAsProto(t *testing.T) {
	full := &mvmv1.UploadEvidenceRequest{PackageId: "p1", Sha256: data(32), Size: 99, Offset: 3, Data: data(70000), UploadKey: data(32)}
	std, err := proto.Marshal(full)
	if err != nil {
		t.Fatal(err)
	}
	twice := protowire.AppendTag(bytes.Clone(std), 5, protowire.BytesType)
	twice = protowire.AppendBytes(twice, data(5000)[1:])
	unknown := protowire.AppendTag(bytes.Clone(std), 99, protowire.Fixed64Type)
	unknown = protowire.AppendFixed64(unknown, 42)
	unknown = protowire.AppendTag(unknown, 98, protowire.Fixed32Type)
	unknown = protowire.AppendFixed32(unknown, 42)
	unknown = protowire.AppendTag(unknown, 97, protowire.BytesType)
	unknown = protowire.AppendBytes(unknown, []byte("x"))
	group := protowire.AppendTag(bytes.Clone(std), 96, protowire.StartGroupType)
	group = protowire.AppendTag(group, 96, protowire.EndGroupType)
	down, _ := proto.Marshal(&mvmv1.DownloadEvidenceResponse{Size: 5, Data: data(40000)})
	for name, c := range map[string]struct {
		b   []byte
		new func() proto.Message
	}{
		"upload":         {std, func() proto.Message { return new(mvmv1.UploadEvidenceRequest) }},
		"data twice":     {twice, func() proto.Message { return new(mvmv1.UploadEvidenceRequest) }},
		"unknown fields": {unknown, func() proto.Message { return new(mvmv1.UploadEvidenceRequest) }},
		"group":          {group, func() proto.Message { return new(mvmv1.UploadEvidenceRequest) }},
		"download":       {down, func() proto.Message { return new(mvmv1.DownloadEvidenceResponse) }},
		"truncated":      {std[:len(std)-1], func() proto.Message { return new(mvmv1.UploadEvidenceRequest) }},
		"bad utf-8":      {append([]byte{0x0a, 2, 0xff, 0xfe}, std...), func() proto.Message { return new(mvmv1.UploadEvidenceRequest) }},
		"bad tag":        {append(bytes.Clone(std), 0x80), func() proto.Message { return new(mvmv1.UploadEvidenceRequest) }},
		"field 0":        {append(bytes.Clone(std), 0x00, 0x00), func() proto.Message { return new(mvmv1.UploadEvidenceRequest) }},
		"long length":    {append(bytes.Clone(std), 0x2a, 0xff, 0xff, 0x03), func() proto.Message { return new(mvmv1.UploadEvidenceRequest) }},
	} {
		want := c.new()
		wantErr := proto.Unmarshal(c.b, want)
		for _, k := range []int{1, 7, 16 << 10, len(c.b) + 1} {
			got := c.new()
			err := Codec{}.Unmarshal(frames(c.b, k), got)
			if (err != nil) != (wantErr != nil) {
				t.Fatalf("%s, frames of %d: error %v, proto.Unmarshal's %v", name, k, err, wantErr)
			}
			if err == nil && !proto.Equal(got, want) {
				t.Fatalf("%s, frames of %d: decoded differs from proto.Unmarshal's", name, k)
			}
		}
	}
}

// A message decoded into again reuses its data's array when it has the
// room, and gets a new one when not; a fresh message's data is its own.
func TestUnmarshalReuses(t *testing.T) {
	enc := func(d []byte) mem.BufferSlice {
		b, _ := proto.Marshal(&mvmv1.DownloadEvidenceResponse{Data: d})
		return frames(b, 16<<10)
	}
	m := new(mvmv1.DownloadEvidenceResponse)
	if err := (Codec{}).Unmarshal(enc(data(50000)), m); err != nil {
		t.Fatal(err)
	}
	first := &m.Data[0]
	if err := (Codec{}).Unmarshal(enc(data(40000)[1:]), m); err != nil {
		t.Fatal(err)
	}
	if &m.Data[0] != first || !bytes.Equal(m.Data, data(40000)[1:]) {
		t.Errorf("decoding again into a message with room: new array %v, right data %v", &m.Data[0] != first, bytes.Equal(m.Data, data(40000)[1:]))
	}
	if err := (Codec{}).Unmarshal(enc(data(60000)), m); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(m.Data, data(60000)) {
		t.Error("decoding a larger chunk into a used message: wrong data")
	}
	other := new(mvmv1.DownloadEvidenceResponse)
	if err := (Codec{}).Unmarshal(enc(data(60000)), other); err != nil {
		t.Fatal(err)
	}
	if &other.Data[0] == &m.Data[0] {
		t.Error("two messages share their data")
	}
}

// Every field of the two messages survives Marshal, those a later change
// of the .proto adds included: each is set through reflection.
func TestMarshalKeepsEveryField(t *testing.T) {
	for _, m := range []proto.Message{new(mvmv1.UploadEvidenceRequest), new(mvmv1.DownloadEvidenceResponse)} {
		r := m.ProtoReflect()
		fields := r.Descriptor().Fields()
		for i := range fields.Len() {
			f := fields.Get(i)
			var v protoreflect.Value
			switch f.Kind() {
			case protoreflect.BytesKind:
				v = protoreflect.ValueOfBytes(data(minChunk + i))
			case protoreflect.StringKind:
				v = protoreflect.ValueOfString("s")
			case protoreflect.Int64Kind:
				v = protoreflect.ValueOfInt64(int64(i + 1))
			case protoreflect.BoolKind:
				v = protoreflect.ValueOfBool(true)
			default:
				t.Fatalf("%s: a field of kind %s: extend this test", f.FullName(), f.Kind())
			}
			r.Set(f, v)
		}
		out, err := Codec{}.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		got := m.ProtoReflect().New().Interface()
		if err := proto.Unmarshal(out.Materialize(), got); err != nil {
			t.Fatal(err)
		}
		if !proto.Equal(got, m) {
			t.Errorf("%T: a field was lost on the way", m)
		}
	}
}

// ReadDownloadChunk gives the protobuf of a DownloadEvidenceResponse with the
// bytes read; it is sent once; a short read is an error.
func TestDownloadChunk(t *testing.T) {
	for _, n := range []int{1, 127, 128, 16383, 16384, 256 << 10, 300 << 10} {
		c, err := ReadDownloadChunk(bytes.NewReader(data(n+5)), n)
		if err != nil {
			t.Fatal(err)
		}
		out, err := Codec{}.Marshal(c)
		if err != nil {
			t.Fatal(err)
		}
		got := new(mvmv1.DownloadEvidenceResponse)
		if err := proto.Unmarshal(out.Materialize(), got); err != nil {
			t.Fatal(err)
		}
		out.Free()
		if !bytes.Equal(got.Data, data(n)) || got.Size != 0 {
			t.Errorf("%d bytes: decoded %d bytes of data, size %d", n, len(got.Data), got.Size)
		}
		if _, err := (Codec{}).Marshal(c); err == nil {
			t.Errorf("%d bytes: sent twice without an error", n)
		}
	}
	if _, err := ReadDownloadChunk(bytes.NewReader(data(10)), 11); err == nil {
		t.Error("a short read gave a chunk")
	}
}
