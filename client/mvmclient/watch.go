package mvmclient

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	mvmv1 "github.com/mvm-exchange/mvm/proto/mvm/v1"
)

// Watch calls fn for every log entry from index from on, in order, as the
// server commits them. After a disconnect, or when the server drops a
// watcher that fell behind (Unavailable: "… resume from N", a callback
// too slow to keep reading), it resumes from the entry after the last one
// delivered, so fn sees every entry exactly once. It returns
// when ctx ends (nil), when fn returns an error (that error, unless it is
// ErrStopWatch), or on a non-transient server error.
//
// The leaves are the server's word: fn must verify each before it shows
// or counts it ([Client.VerifyEntry] under a checkpoint of the pinned log
// key, as client watch does).
func Watch(ctx context.Context, c *Client, from uint64, fn func(index uint64, leaf []byte) error) error {
	return WatchWith(ctx, c, from, WatchOptions{}, fn)
}

// WatchOptions adjust [WatchWith].
type WatchOptions struct {
	// OnRetry, if not nil, is called after each transient failure (the
	// server unreachable, or the stream ended) with the failure and the
	// wait before the next attempt. A non-nil error it returns ends the
	// watch with that error.
	OnRetry func(err error, wait time.Duration) error
}

// ErrStreamEnded is what OnRetry is given when the server ended the stream.
var ErrStreamEnded = errors.New("the server ended the stream")

// WatchWith is [Watch] with options. The wait between attempts doubles
// from 100 ms up to 5 s, and starts again after an attempt that delivered
// entries.
func WatchWith(ctx context.Context, c *Client, from uint64, o WatchOptions, fn func(index uint64, leaf []byte) error) error {
	next := from
	backoff := 100 * time.Millisecond
	for {
		before := next
		err := watchOnce(ctx, c, &next, fn)
		if next != before {
			backoff = 100 * time.Millisecond
		}
		switch {
		case ctx.Err() != nil:
			return nil
		case err == nil, Transient(err):
			if o.OnRetry != nil {
				if err == nil {
					err = ErrStreamEnded
				}
				if rerr := o.OnRetry(err, backoff); rerr != nil {
					return rerr
				}
			}
			select {
			case <-time.After(backoff):
			case <-ctx.Done():
				return nil
			}
			backoff = min(2*backoff, 5*time.Second)
		case errors.Is(err, errFn):
			return unwrapFn(err)
		default:
			return err
		}
	}
}

// ErrStopWatch, returned by a Watch callback, ends the watch without error.
var ErrStopWatch = errors.New("stop watching")

var errFn = errors.New("callback stopped the watch")

type fnError struct{ err error }

func (e fnError) Error() string   { return e.err.Error() }
func (e fnError) Is(t error) bool { return t == errFn }

func unwrapFn(err error) error {
	var fe fnError
	if errors.As(err, &fe) {
		if errors.Is(fe.err, ErrStopWatch) {
			return nil
		}
		return fe.err
	}
	return err
}

func watchOnce(ctx context.Context, c *Client, next *uint64, fn func(uint64, []byte) error) error {
	// The stream ends when ctx does, by the client's hand: with ctx's
	// deadline sent along, the server would end it at the same moment, and
	// its reset could arrive before ctx is done here and pass for a lost
	// connection.
	sctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	defer cancel()
	defer context.AfterFunc(ctx, cancel)()
	stream, err := c.API.Watch(sctx, &mvmv1.WatchRequest{From: *next})
	if err != nil {
		return err
	}
	for {
		msg, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		if msg.Index != *next {
			return fmt.Errorf("watch stream: server sent index %d, expected %d", msg.Index, *next)
		}
		if err := fn(msg.Index, msg.Leaf); err != nil {
			return fnError{err}
		}
		*next = msg.Index + 1
	}
}
