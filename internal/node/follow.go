package node

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/mvm-exchange/mvm/internal/tlog"
	"github.com/mvm-exchange/mvm/internal/verify"
	mvmv1 "github.com/mvm-exchange/mvm/proto/mvm/v1"
)

// errAlarm ends Run: the copy stopped on a verification failure.
var errAlarm = errors.New("node: copy stopped by an alarm")

// verifyError is a failure of the primary's data, not of the connection:
// it raises the alarm.
type verifyError struct {
	index uint64
	err   error
}

func (e *verifyError) Error() string { return fmt.Sprintf("entry %d: %v", e.index, e.err) }
func (e *verifyError) Unwrap() error { return e.err }

// Run follows the primary until ctx ends or an alarm stops the copy
// (then it returns after logging it; the node goes on serving). A failed
// round (the primary away, a stream cut) is retried with backoff, from
// the node's stored size.
func (f *Follower) Run(ctx context.Context) {
	backoff := f.cfg.MinBackoff
	for ctx.Err() == nil {
		progressed, err := f.round(ctx)
		var ve *verifyError
		switch {
		case errors.As(err, &ve):
			f.raise(ve.index, ve.err)
			return
		case err == nil || ctx.Err() != nil:
			backoff = f.cfg.MinBackoff
			continue
		case progressed:
			backoff = f.cfg.MinBackoff
		}
		f.cfg.Logger.Warn("node: following the primary failed; retrying", "primary", f.cfg.Primary, "err", err,
			"size", f.l.Size(), "retry_in", backoff)
		select {
		case <-time.After(backoff):
		case <-ctx.Done():
		}
		backoff = min(2*backoff, f.cfg.MaxBackoff)
	}
}

// round copies one piece, or, caught up, waits for the primary's next
// commit. It reports whether it stored anything.
func (f *Follower) round(ctx context.Context) (bool, error) {
	if f.v == nil {
		if err := f.rebuild(); err != nil {
			return false, err
		}
	}
	mine := f.l.Size()
	latest, err := f.checkpoint(ctx, &mvmv1.GetCheckpointRequest{})
	if err != nil {
		return false, err
	}
	f.mu.Lock()
	f.primarySize, f.seen = latest.cp.Size, time.Now()
	f.mu.Unlock()
	switch {
	case latest.cp.Size < mine:
		if err := f.proveFork(ctx, f.client.API, "the primary "+f.cfg.Primary, latest.raw); err != nil {
			return false, err
		}
		return false, fmt.Errorf("the primary's latest checkpoint is of size %d, the node holds %d entries (a primary restored from an older copy?)", latest.cp.Size, mine)
	case latest.cp.Size == mine:
		if h := f.l.Head(); h != nil && !bytes.Equal(latest.cp.Hash, f.headRoot()) {
			if err := f.proveFork(ctx, f.client.API, "the primary "+f.cfg.Primary, latest.raw); err != nil {
				return false, err
			}
			return false, &verifyError{mine, fmt.Errorf("the primary signed another root at size %d than the one the node verified: a fork", mine)}
		}
		return false, f.wait(ctx, mine)
	}
	target := latest
	if latest.cp.Size-mine > f.cfg.Piece {
		if target, err = f.checkpoint(ctx, &mvmv1.GetCheckpointRequest{AtMost: mine + f.cfg.Piece}); err != nil {
			return false, err
		}
		if target.cp.Size <= mine {
			// No checkpoint within a piece (one batch of the primary
			// larger than a piece): copy up to its latest.
			target = latest
		}
	}
	if err := f.checkAhead(ctx, mine, target); err != nil {
		return false, err
	}
	return true, f.copy(ctx, mine, target)
}

// signed is a checkpoint of the primary, verified under the log key.
type signed struct {
	raw []byte
	cp  *tlog.Checkpoint
}

func (f *Follower) checkpoint(ctx context.Context, req *mvmv1.GetCheckpointRequest) (*signed, error) {
	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	resp, err := f.client.API.GetCheckpoint(cctx, req)
	if err != nil {
		return nil, fmt.Errorf("GetCheckpoint: %w", err)
	}
	key, err := f.logKey()
	if err != nil {
		return nil, err
	}
	cp, _, err := tlog.OpenCheckpoint(resp.Checkpoint, f.l.Origin(), key)
	if err != nil {
		// Not the log's key: nothing of it is taken, and it is no entry's
		// fault; the primary may be misconfigured. Retried.
		return nil, fmt.Errorf("the primary's checkpoint: %w", err)
	}
	return &signed{raw: resp.Checkpoint, cp: cp}, nil
}

func (f *Follower) headRoot() []byte {
	h := f.l.Head()
	key, err := f.logKey()
	if err != nil {
		return nil
	}
	cp, _, err := tlog.OpenCheckpoint(h.Checkpoint, f.l.Origin(), key)
	if err != nil {
		return nil
	}
	return cp.Hash
}

// copy streams entries [from, target's size), verifies each, checks the
// root against the target checkpoint and stores them in one commit.
func (f *Follower) copy(ctx context.Context, from uint64, target *signed) error {
	t0 := time.Now()
	end := target.cp.Size
	f.pending.reset()
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := f.client.API.GetEntries(sctx, &mvmv1.GetEntriesRequest{Start: from, End: end})
	if err != nil {
		return fmt.Errorf("GetEntries: %w", err)
	}
	// The piece is received whole before the verifier sees any of it: a
	// stream cut midway leaves the verifier where the file is.
	var leaves [][]byte
	next := from
	for next < end {
		msg, err := stream.Recv()
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("GetEntries from %d: %w", next, err)
		}
		if msg.FirstIndex != next || uint64(len(msg.Leaves)) > end-next {
			return fmt.Errorf("GetEntries: the primary sent entries [%d, %d), the node asked from %d to %d", msg.FirstIndex, msg.FirstIndex+uint64(len(msg.Leaves)), next, end)
		}
		leaves = append(leaves, msg.Leaves...)
		next += uint64(len(msg.Leaves))
	}
	if next < end {
		return fmt.Errorf("GetEntries: the stream ended at %d of [%d, %d)", next, from, end)
	}
	f.certErr = nil
	if err := f.v.Push(leaves...); err != nil {
		return f.verifyFailed(from, err)
	}
	if err := f.v.Flush(); err != nil {
		return f.verifyFailed(next, err)
	}
	if err := f.v.CheckCheckpoint(target.cp); err != nil {
		return f.verifyFailed(end-1, fmt.Errorf("the entries up to it do not hash to the primary's signed checkpoint of size %d: %w", end, err))
	}
	f.pending.mu.Lock()
	entries, certs := f.pending.entries, f.pending.certs
	f.pending.mu.Unlock()
	if err := f.l.Replicate(entries, target.raw, certs); err != nil {
		// The verifier passed what the file does not hold: rebuild it.
		f.v.Close()
		f.v = nil
		return fmt.Errorf("storing entries [%d, %d): %w", from, end, err)
	}
	f.pending.reset()
	f.stored(end)
	took := time.Since(t0)
	f.cfg.Logger.Debug("node: entries copied", "from", from, "size", end, "took", took)
	if f.cfg.Copied != nil {
		f.cfg.Copied(int(end-from), took)
	}
	return nil
}

// verifyFailed turns the verifier's failure into the alarm's error, naming
// the entry (the verifier names it; else the entry at where).
func (f *Follower) verifyFailed(where uint64, err error) error {
	if f.certErr != nil {
		// The primary did not answer for a certificate: no fault of an
		// entry. The verifier is spent; it is rebuilt from the file.
		f.v.Close()
		f.v = nil
		return fmt.Errorf("fetching a signer certificate: %w", f.certErr)
	}
	var ee *verify.EntryError
	if errors.As(err, &ee) {
		return &verifyError{ee.Index, ee.Err}
	}
	return &verifyError{where, err}
}

// wait returns when the primary has committed entry mine (a Watch stream's
// first message), after a while without, or when the stream fails.
func (f *Follower) wait(ctx context.Context, mine uint64) error {
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	stream, err := f.client.API.Watch(wctx, &mvmv1.WatchRequest{From: mine})
	if err != nil {
		return fmt.Errorf("Watch: %w", err)
	}
	if _, err := stream.Recv(); err != nil && wctx.Err() == nil {
		if status.Code(err) == codes.OutOfRange {
			return fmt.Errorf("Watch from %d: %w", mine, err)
		}
		return fmt.Errorf("Watch: %w", err)
	}
	return nil
}
