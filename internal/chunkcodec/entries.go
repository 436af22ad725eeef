package chunkcodec

import (
	"errors"

	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	mvmv1 "github.com/mvm-exchange/mvm/proto/mvm/v1"
)

// Field numbers of mvmv1.GetEntriesResponse (proto/mvm/v1/service.proto).
const (
	entriesFirstIndex protowire.Number = 1
	entriesLeaves     protowire.Number = 2
)

// Encoded is a message encoded already, into a buffer of a pool: Marshal
// hands that buffer to gRPC as it is, and gRPC returns it to the pool
// once it has written it. Send it once, as a message of the stream whose
// message type it was encoded as.
type Encoded struct {
	buf  *[]byte
	pool mem.BufferPool
}

// Len is the encoded message's size in bytes (0 once sent).
func (e *Encoded) Len() int {
	if e.buf == nil {
		return 0
	}
	return len(*e.buf)
}

// take gives the buffer away, once.
func (e *Encoded) take() (mem.BufferSlice, error) {
	if e.buf == nil {
		return nil, errors.New("chunkcodec: an Encoded message sent twice")
	}
	buf := e.buf
	e.buf = nil
	return mem.BufferSlice{mem.NewBuffer(buf, e.pool)}, nil
}

// EntriesSize is the encoded size of mvmv1.GetEntriesResponse{FirstIndex:
// first, Leaves: leaves}.
func EntriesSize(first uint64, leaves [][]byte) int {
	n := 0
	if first != 0 {
		n += protowire.SizeTag(entriesFirstIndex) + protowire.SizeVarint(first)
	}
	for _, l := range leaves {
		n += protowire.SizeTag(entriesLeaves) + protowire.SizeBytes(len(l))
	}
	return n
}

// EncodeEntries encodes mvmv1.GetEntriesResponse{FirstIndex: first,
// Leaves: leaves} into one buffer of pool, of its exact size: byte for
// byte what proto.Marshal gives (fields in number order, first_index
// left out when 0, every leaf, empty ones included). Each leaf is copied
// once, into that buffer, and none is kept: leaves may be memory valid
// only during the call, such as values of a bbolt read transaction.
func EncodeEntries(pool mem.BufferPool, first uint64, leaves [][]byte) *Encoded {
	buf := pool.Get(EntriesSize(first, leaves))
	b := (*buf)[:0]
	if first != 0 {
		b = protowire.AppendTag(b, entriesFirstIndex, protowire.VarintType)
		b = protowire.AppendVarint(b, first)
	}
	for _, l := range leaves {
		b = protowire.AppendTag(b, entriesLeaves, protowire.BytesType)
		b = protowire.AppendVarint(b, uint64(len(l)))
		b = append(b, l...)
	}
	if len(b) != len(*buf) || cap(b) != cap(*buf) {
		panic("chunkcodec: GetEntriesResponse sized wrong") // EntriesSize and the appends disagree
	}
	*buf = b
	return &Encoded{buf: buf, pool: pool}
}

// unmarshalEntries decodes a GetEntriesResponse from data into m, its
// leaves slices of one copy of data (each capped at its own end, so that
// an append to one cannot reach the next): one allocation a message
// instead of one a leaf, and no second copy of each leaf. A message this
// path does not read as proto.Unmarshal would (a field the message does
// not have, a wire type not its field's, a varint or length that does not
// parse) goes to proto.Unmarshal, from the same copy: the result, or the
// error, is proto.Unmarshal's in every case.
func unmarshalEntries(data mem.BufferSlice, m *mvmv1.GetEntriesResponse) error {
	b := data.Materialize() // a copy of our own: gRPC frees data after this
	if !decodeEntries(b, m) {
		return proto.Unmarshal(b, m)
	}
	return nil
}

// decodeEntries sets m from b, or reports false (m then undefined) if b
// is not a GetEntriesResponse of known fields in their wire types.
func decodeEntries(b []byte, m *mvmv1.GetEntriesResponse) bool {
	m.Reset()
	n := 0
	for rest := b; len(rest) > 0; {
		num, typ, k := protowire.ConsumeTag(rest)
		if k < 0 {
			return false
		}
		rest = rest[k:]
		switch {
		case num == entriesFirstIndex && typ == protowire.VarintType:
			v, k := protowire.ConsumeVarint(rest)
			if k < 0 {
				return false
			}
			m.FirstIndex, rest = v, rest[k:] // the last occurrence wins
		case num == entriesLeaves && typ == protowire.BytesType:
			_, k := protowire.ConsumeBytes(rest)
			if k < 0 {
				return false
			}
			rest = rest[k:]
			n++
		default:
			return false
		}
	}
	if n == 0 {
		return true
	}
	// A second pass fills a slice of the exact length.
	m.Leaves = make([][]byte, 0, n)
	for rest := b; len(rest) > 0; {
		num, _, k := protowire.ConsumeTag(rest)
		rest = rest[k:]
		if num == entriesFirstIndex {
			_, k = protowire.ConsumeVarint(rest)
			rest = rest[k:]
			continue
		}
		v, k := protowire.ConsumeBytes(rest)
		m.Leaves = append(m.Leaves, v[:len(v):len(v)])
		rest = rest[k:]
	}
	return true
}
