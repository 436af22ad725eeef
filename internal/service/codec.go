package service

import (
	"fmt"

	"google.golang.org/grpc"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/proto"

	"github.com/mvm-exchange/mvm/internal/chunkcodec"
)

// messageBuffers is the pool the server encodes its messages into. gRPC's
// default pool has no size between 32 KiB and 1 MiB, so every message in
// between took a 1 MiB buffer, held as long as the message waits for its
// client (an unread stream holds two). Here every power of two up to
// 1 MiB is a size, so a message holds less than twice its bytes.
var messageBuffers = func() mem.BufferPool {
	p, err := mem.NewBinaryTieredBufferPool(8, 12, 14, 15, 16, 17, 18, 19, 20)
	if err != nil {
		panic(err)
	}
	return p
}()

// protoCodec is gRPC's proto codec with messageBuffers for its pool (the
// codec, not the server's buffer pool option, picks the buffer a message
// is encoded into).
type protoCodec struct{}

// forceCodec is the server option that uses it, behind chunkcodec's
// path for the messages that carry evidence bytes.
func forceCodec() grpc.ServerOption {
	return grpc.ForceServerCodecV2(chunkcodec.Codec{Other: protoCodec{}})
}

func (protoCodec) Name() string { return "proto" }

func (protoCodec) Marshal(v any) (mem.BufferSlice, error) {
	m, ok := v.(proto.Message)
	if !ok {
		return nil, fmt.Errorf("proto: cannot marshal %T, want proto.Message", v)
	}
	size := proto.Size(m)
	opts := proto.MarshalOptions{UseCachedSize: true} // safe: Size just ran, and m is not shared
	if mem.IsBelowBufferPoolingThreshold(size) {
		buf, err := opts.Marshal(m)
		if err != nil {
			return nil, err
		}
		return mem.BufferSlice{mem.SliceBuffer(buf)}, nil
	}
	buf := messageBuffers.Get(size)
	if _, err := opts.MarshalAppend((*buf)[:0], m); err != nil {
		messageBuffers.Put(buf)
		return nil, err
	}
	return mem.BufferSlice{mem.NewBuffer(buf, messageBuffers)}, nil
}

func (protoCodec) Unmarshal(data mem.BufferSlice, v any) error {
	m, ok := v.(proto.Message)
	if !ok {
		return fmt.Errorf("proto: cannot unmarshal into %T, want proto.Message", v)
	}
	buf := data.MaterializeToBuffer(mem.DefaultBufferPool())
	defer buf.Free()
	return proto.Unmarshal(buf.ReadOnlyData(), m)
}
