package service

import (
	"errors"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// errIdle: the client sent no message for the idle timeout.
var errIdle = errors.New("the client sent nothing")

// idleReceiver receives an upload stream's messages with a bound on the
// wait for each, so that a client that opens an upload and stops
// sending does not hold its slot, its name's lock and a goroutine for
// ever. gRPC's RecvMsg takes no deadline, and only the handler's return
// ends the stream; so the receive runs in a goroutine of its own, one
// message at a time (the message is decoded into the buffer the caller
// gives, which chunkcodec reuses: no receive runs ahead of the reader),
// and the handler gives up waiting, returns, and gRPC's end of the
// stream ends the receive and the goroutine.
type idleReceiver struct {
	stream grpc.ServerStream
	idle   time.Duration
	want   chan any
	got    chan error
	quit   chan struct{}
	timer  *time.Timer
	going  bool
	idled  bool // a receive is still under way: no other may start
}

func newIdleReceiver(stream grpc.ServerStream, idle time.Duration) *idleReceiver {
	t := time.NewTimer(idle)
	t.Stop()
	return &idleReceiver{stream: stream, idle: idle, want: make(chan any), got: make(chan error, 1), quit: make(chan struct{}), timer: t}
}

// recv receives the next message into m; errIdle if none came within the
// idle timeout. After errIdle, m may still be written to until the
// handler returns: the caller drops it.
func (r *idleReceiver) recv(m any) error {
	if r.idled {
		return errIdle
	}
	if !r.going {
		r.going = true
		go r.run()
	}
	r.want <- m
	r.timer.Reset(r.idle)
	defer r.timer.Stop()
	select {
	case err := <-r.got:
		return err
	case <-r.timer.C:
		r.idled = true
		return errIdle
	}
}

func (r *idleReceiver) run() {
	for {
		select {
		case m := <-r.want:
			r.got <- r.stream.RecvMsg(m)
		case <-r.quit:
			return
		}
	}
}

// close lets the receiving goroutine go once its receive, if any, ends
// (with the stream, when the handler returns).
func (r *idleReceiver) close() { close(r.quit) }

// idleStatus is the refusal of an upload whose client went quiet.
func (ev *evidenceState) idleStatus(when string) error {
	if when != "" {
		when = " " + when
	}
	return status.Errorf(codes.Unavailable, "the upload sent nothing for %s%s, the limit (server --evidence-idle-timeout): it was ended, what the store holds of it is kept; resume from the offset EvidenceStatus returns", ev.opts.IdleTimeout, when)
}
