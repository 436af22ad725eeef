// Package chunkcodec is gRPC's proto codec with a shorter path for the
// two messages that carry an evidence file's bytes,
// mvmv1.UploadEvidenceRequest and mvmv1.DownloadEvidenceResponse. The
// bytes on the wire are the same protobuf (the data field is written
// last, which protobuf allows); what changes is the copying on each side:
//
//   - Marshal writes the message's other fields, then the data field's
//     tag and length, then copies the data once, into a buffer of a pool
//     that is not zeroed (every byte is written) and that gRPC returns
//     when it has sent the message. gRPC's own codec copies as much, but
//     into a buffer of its default pool, whose tier above 32 KiB is
//     1 MiB, cleared at each message.
//   - Unmarshal copies the message's frames once into a buffer of its
//     exact size, finds the data field with protowire and points the
//     message's Data at it (no second copy); the other fields, a few
//     bytes, go through proto.Unmarshal with its checks (UTF-8, types).
//     gRPC's codec gathers the frames into a pooled buffer (cleared, 1 MiB
//     for a 256 KiB message) and proto.Unmarshal copies the data out again.
//
// Every other message goes to the codec it wraps. Guarantees: a message
// decodes to what proto.Unmarshal gives (the data field's last occurrence,
// unknown fields kept) or an error; a decoded message's Data belongs to it
// alone (no pooled memory); the caller's message is unchanged by Marshal.
package chunkcodec

import (
	"fmt"
	"sync"

	"google.golang.org/grpc/encoding"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	mvmv1 "github.com/mvm-exchange/mvm/proto/mvm/v1"
)

// Field numbers of the data fields (proto/mvm/v1/service.proto).
const (
	uploadData   protowire.Number = 5
	downloadData protowire.Number = 2
)

// minChunk: smaller data goes the ordinary way (a header, a short file).
const minChunk = 4 << 10

// Codec is the proto codec with the chunk path; Other encodes everything
// else (gRPC's registered "proto" codec if nil).
type Codec struct{ Other encoding.CodecV2 }

// Name is "proto": the content-subtype does not change.
func (Codec) Name() string { return "proto" }

func (c Codec) other() encoding.CodecV2 {
	if c.Other != nil {
		return c.Other
	}
	return encoding.GetCodecV2("proto")
}

// Marshal implements encoding.CodecV2.
func (c Codec) Marshal(v any) (mem.BufferSlice, error) {
	switch m := v.(type) {
	case *mvmv1.UploadEvidenceRequest:
		if len(m.Data) >= minChunk {
			d := m.Data
			head := &mvmv1.UploadEvidenceRequest{PackageId: m.PackageId, Sha256: m.Sha256, Size: m.Size, Offset: m.Offset, UploadKey: m.UploadKey}
			return marshalChunk(head, uploadData, d)
		}
	case *mvmv1.DownloadEvidenceResponse:
		if len(m.Data) >= minChunk {
			return marshalChunk(&mvmv1.DownloadEvidenceResponse{Size: m.Size}, downloadData, m.Data)
		}
	}
	return c.other().Marshal(v)
}

// Unmarshal implements encoding.CodecV2.
func (c Codec) Unmarshal(data mem.BufferSlice, v any) error {
	switch m := v.(type) {
	case *mvmv1.UploadEvidenceRequest:
		return unmarshalChunk(data, m, uploadData, &m.Data)
	case *mvmv1.DownloadEvidenceResponse:
		return unmarshalChunk(data, m, downloadData, &m.Data)
	}
	return c.other().Unmarshal(data, v)
}

// marshalChunk encodes head (the message without its data), then data as
// field num.
func marshalChunk(head proto.Message, num protowire.Number, data []byte) (mem.BufferSlice, error) {
	size := proto.Size(head)
	n := size + protowire.SizeTag(num) + protowire.SizeBytes(len(data))
	buf := chunkBuffers.Get(n)
	b, err := proto.MarshalOptions{UseCachedSize: true}.MarshalAppend((*buf)[:0], head)
	if err != nil {
		chunkBuffers.Put(buf)
		return nil, err
	}
	b = protowire.AppendTag(b, num, protowire.BytesType)
	b = protowire.AppendVarint(b, uint64(len(data)))
	b = append(b, data...)
	if len(b) != n {
		chunkBuffers.Put(buf)
		return nil, fmt.Errorf("chunkcodec: encoded %d bytes, sized %d", len(b), n)
	}
	*buf = b
	return mem.BufferSlice{mem.NewBuffer(buf, chunkBuffers)}, nil
}

// unmarshalChunk decodes data into m, whose data field is num at *dst:
// that field is kept where it lies in one copy of the message, the
// others are decoded by proto.Unmarshal.
func unmarshalChunk(data mem.BufferSlice, m proto.Message, num protowire.Number, dst *[]byte) error {
	b := make([]byte, data.Len())
	data.CopyTo(b)
	var rest, chunk []byte
	for in := b; len(in) > 0; {
		n, typ, k := protowire.ConsumeTag(in)
		if k < 0 {
			return fmt.Errorf("chunkcodec: %T: %w", m, protowire.ParseError(k))
		}
		l := protowire.ConsumeFieldValue(n, typ, in[k:])
		if l < 0 {
			return fmt.Errorf("chunkcodec: %T: %w", m, protowire.ParseError(l))
		}
		if n == num && typ == protowire.BytesType {
			chunk, _ = protowire.ConsumeBytes(in[k : k+l]) // the last one wins, as in proto.Unmarshal
		} else {
			rest = append(rest, in[:k+l]...)
		}
		in = in[k+l:]
	}
	if err := proto.Unmarshal(rest, m); err != nil {
		return err
	}
	*dst = chunk
	return nil
}

// chunkBuffers holds encoding buffers of one size, that of a 256 KiB
// chunk and its header, not zeroed between uses: every byte of a
// message is written before it is sent. Larger messages get buffers of
// their own.
var chunkBuffers = &dirtyPool{size: 256<<10 + 1<<10}

type dirtyPool struct {
	size int
	pool sync.Pool
}

func (p *dirtyPool) Get(n int) *[]byte {
	if n > p.size {
		b := make([]byte, n)
		return &b
	}
	if b, ok := p.pool.Get().(*[]byte); ok {
		*b = (*b)[:n]
		return b
	}
	b := make([]byte, n, p.size)
	return &b
}

func (p *dirtyPool) Put(b *[]byte) {
	if cap(*b) == p.size {
		p.pool.Put(b)
	}
}
