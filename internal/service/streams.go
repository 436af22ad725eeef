package service

import (
	"context"
	"errors"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	mvmv1 "github.com/mvm-exchange/mvm/proto/mvm/v1"
)

// Read streams (GetEntries, Watch, Backup) are bounded three ways, so that
// no identity can make the server hold much for it (DESIGN invariant 9):
//
//   - in bytes: a message holds entries up to MaxMessageBytes (or one
//     entry, which an append already bounds), and a handler reads the
//     next entries only once the last message was taken by the transport.
//     A client that does not read holds its handler blocked on one such
//     message (encoded, the entries it was made of let go, nothing read
//     ahead), beyond gRPC's per-stream write quota: the transport queues
//     a stream's data until 64 KiB wait unsent, taking a message while any
//     quota is left, so it holds under 64 KiB, the message that crossed
//     it and the rest of one partly written;
//   - in time: a client that takes no message for Options.StallTimeout
//     is dropped, with the index to resume from (Unavailable, which the
//     client library retries from the entry after the last it
//     delivered); what it leaves is at most the one message queued;
//   - in number: Options.MaxStreamsPerIdentity concurrent read streams
//     per identity, and Options.MaxConnsPerIdentity connections
//     (ResourceExhausted, naming the limit, beyond).

// MaxMessageBytes bounds the encoded size of one GetEntries message (a
// single entry larger than it goes alone; an append bounds each entry).
// Small, because what a stream whose client does not read holds is gRPC's
// 64 KiB per-stream write quota, the two messages its transport may hold
// past it, and the one its handler is blocked sending.
const MaxMessageBytes = 32 << 10

// leafOverhead bounds what encoding adds to a leaf in a message (field
// tag and length); messageOverhead, what a message adds to its leaves.
const leafOverhead, messageOverhead = 8, 16

// Defaults of the per-identity limits.
const (
	DefaultMaxStreamsPerIdentity = 64
	DefaultMaxConnsPerIdentity   = 16
	DefaultStallTimeout          = 30 * time.Second
)

// isReadStream selects the streams that count against the per-identity
// limit: the server-streaming reads. Append streams are paced by their
// own answers and the append rate limit.
func isReadStream(method string) bool {
	switch method {
	case mvmv1.ExchangeService_GetEntries_FullMethodName, mvmv1.ExchangeService_Watch_FullMethodName,
		mvmv1.ExchangeService_Backup_FullMethodName:
		return true
	}
	return false
}

// limitReadStreams is the stream interceptor of the per-identity read
// stream limit; it runs after authentication.
func (s *Service) limitReadStreams(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	c, ok := CallerFrom(ss.Context())
	if !ok || !isReadStream(info.FullMethod) {
		return handler(srv, ss)
	}
	release, err := s.streams.acquire(ss.Context(), c.ID.URI(), c.ID.String())
	if err != nil {
		return err
	}
	defer release()
	return handler(srv, ss)
}

// errStalled: the client took no message for the stall timeout.
var errStalled = errors.New("the client stopped reading")

// stallSender sends a stream's messages from a goroutine of its own, so
// that the handler can give up on a client that stops reading: when the
// handler returns, gRPC cancels the stream, which ends the blocked send,
// and the goroutine exits. One message is in flight at a time, and it is
// encoded before it is handed over (grpc.PreparedMsg, or GetEntries's
// chunkcodec.Encoded): a message waiting for a slow client holds its
// encoding (of its exact size, or in a pooled buffer of the next power of
// two), and not the entries it was made of.
type stallSender struct {
	stream grpc.ServerStream
	in     chan any
	out    chan error
	quit   chan struct{}
	timer  *time.Timer
	stall  time.Duration
}

func newStallSender(stream grpc.ServerStream, stall time.Duration) *stallSender {
	s := &stallSender{stream: stream, in: make(chan any), out: make(chan error, 1), quit: make(chan struct{}),
		stall: stall, timer: time.NewTimer(stall)}
	s.timer.Stop()
	go func() {
		for {
			select {
			case m := <-s.in:
				s.out <- stream.SendMsg(m)
			case <-s.quit:
				return
			}
		}
	}()
	return s
}

// prepare encodes m to its exact size (grpc.PreparedMsg). A handler
// builds m, and the entries it is made of, in a function of its own that
// returns the encoding, so that nothing but the encoding is live while
// send waits: holding both would be two messages.
func (s *stallSender) prepare(m proto.Message) (*grpc.PreparedMsg, error) {
	pm := new(grpc.PreparedMsg)
	if err := pm.Encode(s.stream, m); err != nil {
		return nil, err
	}
	return pm, nil
}

// send sends pm; errStalled if the client has not taken it within the
// stall timeout, ctx's error if ctx ends first. It returns once gRPC took
// pm, so a handler reads and encodes its next message only then.
func (s *stallSender) send(ctx context.Context, pm *grpc.PreparedMsg) error { return s.hand(ctx, pm) }

// sendEncoded sends m itself, encoded by the stream's codec in the send:
// a message chunkcodec encoded already, into the buffer gRPC sends and
// frees (a chunkcodec.DownloadChunk or chunkcodec.Encoded; a PreparedMsg
// would copy it twice).
func (s *stallSender) sendEncoded(ctx context.Context, m any) error { return s.hand(ctx, m) }

// hand gives m to the sending goroutine and waits for its send.
func (s *stallSender) hand(ctx context.Context, m any) error {
	select {
	case s.in <- m:
	case <-ctx.Done():
		return ctx.Err()
	}
	s.timer.Reset(s.stall)
	defer s.timer.Stop()
	select {
	case err := <-s.out:
		return err
	case <-s.timer.C:
		return errStalled
	case <-ctx.Done():
		return ctx.Err()
	}
}

// sendMsg prepares m and sends it, for a caller that holds nothing else
// of it (Backup's chunk is let go with m).
func (s *stallSender) sendMsg(ctx context.Context, m proto.Message) error {
	pm, err := s.prepare(m)
	if err != nil {
		return err
	}
	return s.send(ctx, pm)
}

// close ends the goroutine once its send (if any) has ended; the handler
// returns right after, which ends a blocked send.
func (s *stallSender) close() { close(s.quit) }

// streamEnded is the status of a read stream that could not send its
// message for index next; what names the stream.
func (s *Service) streamEnded(err error, what string, next uint64) error {
	switch {
	case errors.Is(err, errStalled):
		return status.Errorf(codes.Unavailable, "%s: the client took no message for %s and fell behind; resume from %d", what, s.opts.StallTimeout, next)
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return status.FromContextError(err).Err()
	}
	return toStatus(err)
}
