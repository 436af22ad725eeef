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
//     1 MiB, cleared at each message. A download chunk (the server's
//     download) is encoded already, its data read straight into such a
//     buffer: no copy at all.
//   - Unmarshal reads the message's frames in order and copies the data
//     field's bytes once, straight into the message's Data: into the
//     array Data already has if it has the room (a receiver that decodes
//     into the same message again, with RecvMsg, makes no garbage per
//     message), else a new one. The other fields, a few bytes, go
//     through proto.Unmarshal with its checks (UTF-8, types). gRPC's
//     codec gathers the frames into a pooled buffer (1 MiB, cleared, for
//     a 256 KiB message) and proto.Unmarshal copies the data out again
//     into a new array each message.
//
// A GetEntriesResponse can be encoded ahead, straight from the memory its
// leaves are in ([EncodeEntries], an [Encoded]): Marshal passes its
// buffer on as it is. One is decoded from one copy of the message, its
// leaves slices of that copy, each capped at its own end (proto.Unmarshal
// allocates and copies each leaf: a node's catch-up and an audit read a
// million of them).
//
// Every other message goes to the codec it wraps. Guarantees: a message
// decodes to what proto.Unmarshal gives (the data field's last occurrence,
// unknown fields kept) or an error; a decoded message's Data and Leaves
// belong to it alone (no pooled memory), and decoding into it again
// overwrites it; the caller's message is unchanged by Marshal.
package chunkcodec

import (
	"encoding/binary"
	"fmt"
	"io"
	"slices"
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

// ReadDownloadChunk reads n bytes of r into a mvmv1.DownloadEvidenceResponse
// that carries only data, encoded already, its data read straight into
// the buffer gRPC sends (no copy of its own). Send it once, as the message
// of a DownloadEvidence stream.
func ReadDownloadChunk(r io.Reader, n int) (*Encoded, error) {
	pre := protowire.SizeTag(downloadData) + protowire.SizeVarint(uint64(n))
	buf := chunkBuffers.Get(pre + n)
	// The header goes in place, in the buffer's first pre bytes.
	head := protowire.AppendTag((*buf)[:0], downloadData, protowire.BytesType)
	head = protowire.AppendVarint(head, uint64(n))
	if len(head) != pre {
		panic("chunkcodec: header size")
	}
	if _, err := io.ReadFull(r, (*buf)[pre:]); err != nil {
		chunkBuffers.Put(buf)
		return nil, err
	}
	return &Encoded{buf: buf, pool: chunkBuffers}, nil
}

// Marshal implements encoding.CodecV2.
func (c Codec) Marshal(v any) (mem.BufferSlice, error) {
	switch m := v.(type) {
	case *Encoded:
		return m.take()
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
	case *mvmv1.GetEntriesResponse:
		return unmarshalEntries(data, m)
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
// it reads the frames in order, copies that field's bytes once, straight
// into *dst's array if it has the room (a message decoded into again
// reuses it) or a new one, and decodes the other fields, re-encoded
// apart, with proto.Unmarshal.
func unmarshalChunk(data mem.BufferSlice, m proto.Message, num protowire.Number, dst *[]byte) error {
	reuse := (*dst)[:0]
	r := data.Reader()
	defer r.Close()
	var rest, chunk []byte
	for r.Remaining() > 0 {
		tag, err := binary.ReadUvarint(r)
		if err != nil {
			return malformed(m, err)
		}
		n, typ := protowire.DecodeTag(tag)
		if n < protowire.MinValidNumber || n > protowire.MaxValidNumber {
			return malformed(m, fmt.Errorf("field number %d", n))
		}
		rest = protowire.AppendTag(rest, n, typ)
		switch typ {
		case protowire.VarintType:
			v, err := binary.ReadUvarint(r)
			if err != nil {
				return malformed(m, err)
			}
			rest = protowire.AppendVarint(rest, v)
		case protowire.Fixed32Type, protowire.Fixed64Type:
			k := 4
			if typ == protowire.Fixed64Type {
				k = 8
			}
			if rest, err = readN(r, rest, k); err != nil {
				return malformed(m, err)
			}
		case protowire.BytesType:
			l, err := binary.ReadUvarint(r)
			if err != nil {
				return malformed(m, err)
			}
			if l > uint64(r.Remaining()) {
				return malformed(m, io.ErrUnexpectedEOF)
			}
			if n != num {
				rest = protowire.AppendVarint(rest, l)
				if rest, err = readN(r, rest, int(l)); err != nil {
					return malformed(m, err)
				}
				continue
			}
			rest = rest[:len(rest)-protowire.SizeTag(n)]
			// The last occurrence wins, as in proto.Unmarshal.
			if chunk = reuse; cap(chunk) < int(l) {
				chunk = make([]byte, 0, l)
			}
			if chunk, err = readN(r, chunk[:0], int(l)); err != nil {
				return malformed(m, err)
			}
		default: // groups: not in these messages; proto.Unmarshal decides
			return unmarshalWhole(data, m, dst)
		}
	}
	if err := proto.Unmarshal(rest, m); err != nil {
		return err
	}
	*dst = chunk
	return nil
}

// readN appends the next n bytes of r to b.
func readN(r *mem.Reader, b []byte, n int) ([]byte, error) {
	if n > r.Remaining() {
		return b, io.ErrUnexpectedEOF
	}
	b = slices.Grow(b, n)
	k, err := io.ReadFull(r, b[len(b):len(b)+n])
	return b[:len(b)+k], err
}

// unmarshalWhole decodes data into m with proto.Unmarshal.
func unmarshalWhole(data mem.BufferSlice, m proto.Message, dst *[]byte) error {
	*dst = nil
	return proto.Unmarshal(data.Materialize(), m)
}

func malformed(m proto.Message, err error) error {
	return fmt.Errorf("chunkcodec: %s: %w", m.ProtoReflect().Descriptor().FullName(), err)
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
