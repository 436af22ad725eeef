package chunkcodec

import (
	"errors"

	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/encoding/protowire"
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
