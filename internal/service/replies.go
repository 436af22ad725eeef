package service

import (
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/peer"

	mvmv1 "github.com/mvm-exchange/mvm/proto/mvm/v1"
)

// Answers of append streams leave through one sender goroutine per
// connection.
//
// A group commit releases its appends all at once. When each stream's
// handler sent its own answer, gRPC's writer for the connection mostly
// found a single answer queued and flushed it alone: one TLS record and one
// loopback write system call per answer. When the handlers hand their
// answers to one goroutine and wait for it, the answers of a batch queue up
// behind each other and the transport flushes several at once
// (docs/PERFORMANCE.md: the server's write calls per append 2.1 → 1.4). A
// handler waits for its own Send, so its errors and the order of a
// stream's answers are as if it sent them itself.
//
// gRPC's flow control is per stream: a client that stops reading one
// stream blocks Send on that stream only. The sender may be caught in such
// a Send, so a handler leaves its answer queued for at most sendPatience:
// then it takes the answer back, if the sender has not taken it, and sends
// it itself, as it does when the queue is full or its stream ends.
// Streams of other connections never share a sender.

// sendPatience is how long a handler waits for the sender to take its
// answer. The sender takes an answer within microseconds unless it is
// blocked in another stream's Send.
const sendPatience = 2 * time.Millisecond

type appendStream = grpc.BidiStreamingServer[mvmv1.AppendStreamRequest, mvmv1.AppendStreamResponse]

// connSender sends the answers of one connection's append streams.
type connSender struct {
	q    chan *outgoing
	refs int // streams using it; under Service.sendersMu
}

// An outgoing answer is queued, then taken by the sender (which sends it
// and reports on done) or withdrawn by its handler (which sends it
// itself), never both.
type outgoing struct {
	stream appendStream
	msg    *mvmv1.AppendStreamResponse
	state  atomic.Int32
	done   chan<- error
}

const (
	queued int32 = iota
	taken
	withdrawn
)

func (c *connSender) run() {
	for o := range c.q {
		if o.state.CompareAndSwap(queued, taken) {
			o.done <- o.stream.Send(o.msg)
		}
	}
}

// streamSends sends the answers of one append stream.
type streamSends struct {
	stream   appendStream
	sender   *connSender // nil: the handler sends itself
	done     chan error  // from the sender, one per answer it takes
	patience *time.Timer
}

// send sends msg, through the connection's sender if it takes it in
// time, and returns Send's error.
func (ss *streamSends) send(msg *mvmv1.AppendStreamResponse) error {
	if ss.sender == nil {
		return ss.stream.Send(msg)
	}
	o := &outgoing{stream: ss.stream, msg: msg, done: ss.done}
	select {
	case ss.sender.q <- o:
	default:
		return ss.stream.Send(msg) // the sender is backed up
	}
	ss.patience.Reset(sendPatience)
	select {
	case err := <-ss.done:
		ss.patience.Stop()
		return err
	case <-ss.patience.C:
	case <-ss.stream.Context().Done():
		ss.patience.Stop()
	}
	if o.state.CompareAndSwap(queued, withdrawn) {
		return ss.stream.Send(msg)
	}
	return <-ss.done // taken: its Send ends, at the latest with the stream
}

// streamSender returns the sends of a new append stream, through its
// connection's sender, and the release to call when the handler returns.
func (s *Service) streamSender(stream appendStream) (*streamSends, func()) {
	ss := &streamSends{stream: stream}
	p, ok := peer.FromContext(stream.Context())
	if !ok || p.Addr == nil || p.LocalAddr == nil {
		return ss, func() {}
	}
	key := p.LocalAddr.String() + " " + p.Addr.String() // one TCP connection
	s.sendersMu.Lock()
	c := s.senders[key]
	if c == nil {
		c = &connSender{q: make(chan *outgoing, 64)}
		s.senders[key] = c
		go c.run()
	}
	c.refs++
	s.sendersMu.Unlock()
	ss.sender, ss.done = c, make(chan error, 1)
	ss.patience = time.NewTimer(time.Hour)
	ss.patience.Stop()
	return ss, func() {
		ss.patience.Stop()
		s.sendersMu.Lock()
		defer s.sendersMu.Unlock()
		if c.refs--; c.refs == 0 {
			delete(s.senders, key)
			close(c.q) // the connection's last append stream has ended
		}
	}
}
