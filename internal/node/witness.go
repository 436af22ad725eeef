package node

import (
	"bytes"
	"context"
	"fmt"
	"time"

	"github.com/mvm-exchange/mvm/internal/tlog"
	"github.com/mvm-exchange/mvm/internal/witness"
)

// Verified is the node's witness.Handler Allow hook: it passes cp only
// once the node has verified and stored every entry up to cp's size, and
// its own root at that size is cp's. It waits for the follower up to the
// context's deadline or wait, whichever comes first (the primary pushes a
// checkpoint as soon as it commits it, while the node is still copying
// it); past that it answers witness.ErrNotYet and the primary retries.
func (f *Follower) Verified(ctx context.Context, cp *tlog.Checkpoint, wait time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	for {
		f.mu.Lock()
		ch, n, alarm := f.caught, f.verified, f.alarm
		f.mu.Unlock()
		if alarm != "" {
			return fmt.Errorf("the node's copy stopped on an alarm, it cosigns nothing more: %s", alarm)
		}
		if n >= cp.Size {
			root, err := f.rootAt(cp.Size)
			if err != nil {
				return err
			}
			if !bytes.Equal(root, cp.Hash) {
				f.cfg.Logger.Error("node: the primary asks to cosign another root than the one the node verified at that size",
					"size", cp.Size, "verified", root, "checkpoint", cp.Hash)
				return fmt.Errorf("the node verified another root at size %d", cp.Size)
			}
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("%w: the node has verified %d entries of %d", witness.ErrNotYet, n, cp.Size)
		}
	}
}

// rootAt is the root of the node's tree of size n (at most its size).
func (f *Follower) rootAt(n uint64) ([]byte, error) {
	t, err := tlog.NewTree(n, f.l.Store())
	if err != nil {
		return nil, err
	}
	return t.Root()
}
