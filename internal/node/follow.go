package node

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/mvm-exchange/mvm/internal/ledger"
	"github.com/mvm-exchange/mvm/internal/tlog"
	"github.com/mvm-exchange/mvm/internal/verify"
	mvmv1 "github.com/mvm-exchange/mvm/proto/mvm/v1"
)

// verifyError is a failure of the primary's data, not of the connection:
// it raises the alarm.
type verifyError struct {
	index uint64
	err   error
}

func (e *verifyError) Error() string { return fmt.Sprintf("entry %d: %v", e.index, e.err) }
func (e *verifyError) Unwrap() error { return e.err }

// Run follows the primary until ctx ends or an alarm stops the copy
// (then it returns after logging it; the node goes on serving), its own
// or one raised elsewhere (a fork a peer, a witness request or a client
// showed). A failed round (the primary away, a stream cut) is retried
// with backoff, from the node's stored size.
func (f *Follower) Run(ctx context.Context) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	f.stopCopyWith(cancel)
	defer f.dropNext()
	defer func() {
		if err := f.settle(); err != nil {
			f.cfg.Logger.Warn("node: storing the last piece failed", "err", err)
		}
	}()
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
	// The verifier's size: the file's, or ahead of it by the piece whose
	// commit is in flight.
	mine := f.v.Size()
	a := f.takeNext(mine) // asked while the last piece drained (next.go)
	var latest *signed
	if a != nil {
		latest = a.latest
		f.lastCheckpoint = &verifiedCheckpoint{signed: latest, vkey: a.vkey}
	} else {
		var err error
		if latest, err = f.checkpoint(ctx, &mvmv1.GetCheckpointRequest{}); err != nil {
			return false, err
		}
	}
	f.mu.Lock()
	f.primarySize, f.seen = latest.cp.Size, time.Now()
	f.mu.Unlock()
	if latest.cp.Size <= mine {
		// Caught up (or behind): what follows reads the file.
		if err := f.settle(); err != nil {
			return false, err
		}
	}
	switch {
	case latest.cp.Size < mine:
		if err := f.proveFork(remote{ctx, f.client.API}, "the primary "+f.cfg.Primary, latest.opened()); err != nil {
			return false, err
		}
		return false, fmt.Errorf("the primary's latest checkpoint is of size %d, the node holds %d entries (a primary restored from an older copy?)", latest.cp.Size, mine)
	case latest.cp.Size == mine:
		if h := f.l.Head(); h != nil && !bytes.Equal(latest.cp.Hash, f.headRoot()) {
			if err := f.proveFork(remote{ctx, f.client.API}, "the primary "+f.cfg.Primary, latest.opened()); err != nil {
				return false, err
			}
			return false, &verifyError{mine, fmt.Errorf("the primary signed another root at size %d than the one the node verified: a fork", mine)}
		}
		return false, f.wait(ctx, mine)
	}
	if a != nil {
		// latest is beyond mine: the piece's target, proof and stream
		// were asked for too.
		err := f.checkAhead(ctx, mine, a.target, a.proof)
		if err == nil {
			if n := usedNext.Load(); n != nil {
				n.Add(1)
			}
			return true, f.copy(ctx, mine, a.target, a.in)
		}
		a.in.close()
		return false, err
	}
	target := latest
	if latest.cp.Size-mine > f.cfg.Piece {
		var err error
		if target, err = f.checkpoint(ctx, &mvmv1.GetCheckpointRequest{AtMost: mine + f.cfg.Piece}); err != nil {
			return false, err
		}
		if target.cp.Size <= mine {
			// No checkpoint within a piece (one batch of the primary
			// larger than a piece): copy up to its latest.
			target = latest
		}
	}
	if err := f.checkAhead(ctx, mine, target, nil); err != nil {
		return false, err
	}
	return true, f.copy(ctx, mine, target, nil)
}

// headRoot is the root of the node's tree at its size (which may be
// beyond its latest checkpoint: Replicate without one).
func (f *Follower) headRoot() []byte {
	root, err := f.rootAt(f.l.Size())
	if err != nil {
		return nil
	}
	return root
}

// copy streams entries [from, target's size) into the verifier as they
// arrive, checks the root against the target checkpoint and stores them
// in one commit. A failing entry or a cut stream stores the entries the
// verifier passed before it (keep), so the file stands where the
// verifier does.
func (f *Follower) copy(ctx context.Context, from uint64, target *signed, in *incoming) error {
	t0 := time.Now()
	end := target.cp.Size
	f.pending.reset()
	f.certErr = nil
	if in == nil {
		var err error
		if in, err = f.openEntries(ctx, from, end); err != nil {
			return fmt.Errorf("GetEntries: %w", err)
		}
	}
	defer in.close()
	next := from
	var cut error
	// The leaves of several messages (32 KiB each, a few dozen leaves) are
	// pushed together: the verifier checks the signatures of a push as
	// batches, one a core, and a batch of a few hundred costs much less a
	// signature than one of a dozen.
	b := batcher{push: f.v.Push, first: from}
	for msg := range in.msgs {
		if msg.FirstIndex != next || uint64(len(msg.Leaves)) > end-next {
			cut = fmt.Errorf("GetEntries: the primary sent entries [%d, %d), the node asked from %d to %d", msg.FirstIndex, msg.FirstIndex+uint64(len(msg.Leaves)), next, end)
			break
		}
		if err := b.add(msg.Leaves); err != nil {
			return f.verifyFailed(ctx, from, target, b.first, err)
		}
		if next += uint64(len(msg.Leaves)); next == end {
			// All of the piece is here: the next one is asked for
			// while this one drains.
			f.askNext(ctx, end)
			break
		}
	}
	if err := b.flush(); err != nil {
		return f.verifyFailed(ctx, from, target, b.first, err)
	}
	if cut == nil && next < end {
		in.close() // in.err is set once its messages are closed
		cut = fmt.Errorf("GetEntries: the stream ended at %d of [%d, %d): %v", next, from, end, in.err)
	}
	if err := f.v.Flush(); err != nil {
		return f.verifyFailed(ctx, from, target, next, err)
	}
	if cut != nil {
		if err := f.keep(ctx, from, target); err != nil {
			return errors.Join(cut, err)
		}
		return cut
	}
	if err := f.v.CheckCheckpoint(target.cp); err != nil {
		return f.verifyFailed(ctx, from, target, end-1, fmt.Errorf("the entries up to it do not hash to the primary's signed checkpoint of size %d: %w", end, err))
	}
	// One commit at a time, in order: the previous piece's is waited for,
	// then this one's runs while the next piece is copied and verified.
	if err := f.settle(); err != nil {
		return err
	}
	entries, certs := f.pending.take()
	done := make(chan error, 1)
	f.inflight = done
	go func() {
		err := f.l.ReplicateVerified(entries, target.raw, certs)
		if err != nil {
			err = fmt.Errorf("storing entries [%d, %d): %w", from, end, err)
		} else {
			f.stored(end)
			took := time.Since(t0)
			f.cfg.Logger.Debug("node: entries copied", "from", from, "size", end, "took", took)
			if f.cfg.Copied != nil {
				f.cfg.Copied(int(end-from), took)
			}
		}
		done <- err
	}()
	return nil
}

// settle waits for the commit in flight, if any. One that failed leaves
// the verifier ahead of the file: it is rebuilt from the file.
func (f *Follower) settle() error {
	if f.inflight == nil {
		return nil
	}
	err := <-f.inflight
	f.inflight = nil
	if err != nil && f.v != nil {
		f.v.Close()
		f.v = nil
	}
	return err
}

// keep stores the entries of the piece from from on that the verifier
// passed (Options.Visit collected them, in order, each only once every
// check of it passed), once the primary proved them a prefix of the tree
// its target checkpoint signed (a consistency proof from the verifier's
// root): with the primary's latest checkpoint among them if it has one,
// the rest without (ledger.Replicate). A failure to store leaves the
// verifier ahead of the file: it is rebuilt.
func (f *Follower) keep(ctx context.Context, from uint64, target *signed) error {
	entries, certs := f.pending.take()
	if err := f.settle(); err != nil {
		return err // the verifier is rebuilt: nothing of this piece is kept
	}
	if len(entries) == 0 {
		return nil
	}
	upto := from + uint64(len(entries))
	err := f.proveKept(ctx, upto, target)
	if err == nil {
		err = f.keepUpTo(ctx, from, upto, entries, certs)
	}
	if err != nil && f.v != nil {
		f.v.Close()
		f.v = nil
	}
	return err
}

// proveKept checks that the verifier's tree of upto entries is a prefix
// of the target's.
func (f *Follower) proveKept(ctx context.Context, upto uint64, target *signed) error {
	root, err := f.v.Root()
	if err != nil {
		return err
	}
	if f.v.Size() != upto {
		return fmt.Errorf("the verifier stands at %d entries, %d were collected", f.v.Size(), upto)
	}
	if upto == target.cp.Size {
		if !bytes.Equal(root, target.cp.Hash) {
			return fmt.Errorf("the entries do not hash to the primary's checkpoint of size %d", upto)
		}
		return nil
	}
	pctx, cancel := context.WithTimeout(ctx, rpcTimeout)
	defer cancel()
	resp, err := f.client.API.GetConsistencyProof(pctx, &mvmv1.GetConsistencyProofRequest{From: upto, To: target.cp.Size})
	if err != nil {
		return fmt.Errorf("GetConsistencyProof: %w", err)
	}
	if err := tlog.VerifyConsistency(upto, target.cp.Size, resp.Hashes, root, target.cp.Hash); err != nil {
		return fmt.Errorf("the %d entries verified are not a prefix of the primary's checkpoint of size %d: %w", upto, target.cp.Size, err)
	}
	return nil
}

func (f *Follower) keepUpTo(ctx context.Context, from, upto uint64, entries []ledger.Verified, certs map[string][]byte) error {
	if cp, err := f.checkpoint(ctx, &mvmv1.GetCheckpointRequest{AtMost: upto}); err == nil && cp.cp.Size > from && cp.cp.Size <= upto {
		n := cp.cp.Size - from
		if err := f.l.ReplicateVerified(entries[:n], cp.raw, certs); err != nil {
			return fmt.Errorf("storing the verified entries [%d, %d): %w", from, cp.cp.Size, err)
		}
		f.stored(cp.cp.Size)
		from, entries = cp.cp.Size, entries[n:]
	}
	if len(entries) == 0 {
		return nil
	}
	if err := f.l.ReplicateVerified(entries, nil, certs); err != nil {
		return fmt.Errorf("storing the verified entries [%d, %d): %w", from, upto, err)
	}
	f.stored(upto)
	return nil
}

// verifyFailed turns the verifier's failure into the alarm's error, naming
// the entry (the verifier names it; else the entry at where), after
// storing the entries of the piece verified before it.
func (f *Follower) verifyFailed(ctx context.Context, from uint64, target *signed, where uint64, err error) error {
	kept := f.keep(ctx, from, target)
	if f.certErr != nil {
		// The primary did not answer for a certificate: no fault of an
		// entry. The verifier is spent; it is rebuilt from the file.
		if f.v != nil {
			f.v.Close()
			f.v = nil
		}
		return errors.Join(fmt.Errorf("fetching a signer certificate: %w", f.certErr), kept)
	}
	if kept != nil {
		f.cfg.Logger.Error("node: storing the entries verified before a failing one", "err", kept)
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
	wctx, cancel := context.WithTimeout(ctx, rpcTimeout)
	defer cancel()
	stream, err := f.client.API.Watch(wctx, &mvmv1.WatchRequest{From: mine})
	if err != nil {
		return fmt.Errorf("watch: %w", err)
	}
	if _, err := stream.Recv(); err != nil && wctx.Err() == nil {
		if status.Code(err) == codes.OutOfRange {
			return fmt.Errorf("watch from %d: %w", mine, err)
		}
		return fmt.Errorf("watch: %w", err)
	}
	return nil
}
