package mvmclient

import (
	"context"
	"fmt"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	mvmv1 "github.com/mvm-exchange/mvm/proto/mvm/v1"
)

// Appender appends envelopes over one AppendStream, one at a time, which
// saves the cost of a call per envelope for a submitter that sends many.
// It is not safe for concurrent use: open one per goroutine. A refused
// envelope returns the same status error a unary append would, and the
// Appender stays usable; any other error means the stream is broken, and
// the Appender must be closed and a new one opened (re-sending the same
// envelope is safe, as with retries of unary appends).
type Appender struct {
	stream grpc.BidiStreamingClient[mvmv1.AppendStreamRequest, mvmv1.AppendStreamResponse]
	cancel context.CancelFunc
	broken bool
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
	return &Appender{stream: stream, cancel: cancel}, nil
}

// AppendSealed appends one signed envelope and returns its receipt.
func (a *Appender) AppendSealed(env []byte) (*mvmv1.AppendResponse, error) {
	if a.broken {
		return nil, status.Error(codes.Unavailable, "append stream is broken; open another")
	}
	if err := a.stream.Send(&mvmv1.AppendStreamRequest{Envelope: env}); err != nil {
		a.broken = true
		_, err = a.stream.Recv() // the stream's own error, if it has one
		return nil, err
	}
	resp, err := a.stream.Recv()
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

// Close ends the stream.
func (a *Appender) Close() error {
	err := a.stream.CloseSend()
	a.cancel()
	return err
}
