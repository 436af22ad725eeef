package mvmclient

import (
	"context"
	"fmt"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	mvmv1 "github.com/mvm-exchange/mvm/proto/mvm/v1"
)

// Appender appends envelopes over one AppendStream, one at a time, which
// saves the cost of a call per envelope for a submitter that sends many.
// It is not safe for concurrent use: open one per goroutine. A refused
// envelope returns the same status error a unary append would, and the
// Appender stays usable; any other error (a transport failure, the
// caller's authentication, a message over the server's 1 MiB limit, the
// server shutting down) means the stream is broken ([Appender.Broken]),
// and the Appender must be closed and a new one opened (re-sending the
// same envelope is safe, as with retries of unary appends).
type Appender struct {
	stream  grpc.BidiStreamingClient[mvmv1.AppendStreamRequest, mvmv1.AppendStreamResponse]
	cancel  context.CancelFunc
	timeout time.Duration
	broken  bool
}

// Broken reports whether the stream failed (as opposed to the server
// refusing an envelope); a broken Appender must be replaced.
func (a *Appender) Broken() bool { return a.broken }

// NewAppender opens an append stream; it lasts until Close or ctx ends.
func (c *Client) NewAppender(ctx context.Context) (*Appender, error) {
	ctx, cancel := context.WithCancel(ctx)
	stream, err := c.API.AppendStream(ctx)
	if err != nil {
		cancel()
		return nil, err
	}
	return &Appender{stream: stream, cancel: cancel, timeout: c.opts.CallTimeout}, nil
}

// AppendSealed appends one signed envelope and returns its receipt. An
// answer that takes longer than the client's CallTimeout breaks the
// stream (DeadlineExceeded), as it would fail a unary call.
func (a *Appender) AppendSealed(env []byte) (*mvmv1.AppendResponse, error) {
	if a.broken {
		return nil, status.Error(codes.Unavailable, "append stream is broken; open another")
	}
	timer := time.AfterFunc(a.timeout, func() { a.cancel() })
	resp, err := a.exchange(env)
	if !timer.Stop() { // the stream is cancelled: unusable from now on
		a.broken = true
		if err != nil {
			err = status.Errorf(codes.DeadlineExceeded, "append stream: no answer within %s", a.timeout)
		}
	}
	if err != nil {
		a.broken = true
		return nil, err
	}
	if resp.Code != int32(codes.OK) {
		return nil, status.Error(codes.Code(resp.Code), resp.Message)
	}
	if resp.Result == nil || resp.Result.Receipt == nil {
		return nil, fmt.Errorf("append stream: response without a receipt")
	}
	return resp.Result, nil
}

// exchange sends env and receives its answer; an error is the stream's.
func (a *Appender) exchange(env []byte) (*mvmv1.AppendStreamResponse, error) {
	if err := a.stream.Send(&mvmv1.AppendStreamRequest{Envelope: env}); err != nil {
		if _, rerr := a.stream.Recv(); rerr != nil {
			return nil, rerr // the stream's own error says more than Send's EOF
		}
		return nil, err
	}
	return a.stream.Recv()
}

// Close ends the stream.
func (a *Appender) Close() error {
	err := a.stream.CloseSend()
	a.cancel()
	return err
}
