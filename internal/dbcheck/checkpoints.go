package dbcheck

import (
	"bytes"
	"fmt"

	"golang.org/x/mod/sumdb/note"

	"github.com/mvm-exchange/mvm/internal/store"
	"github.com/mvm-exchange/mvm/internal/tlog"
)

// cpWork is a stored checkpoint and the root recomputed at its size.
type cpWork struct {
	size         uint64
	signed, root []byte
	problem      string
}

func (c *checker) badCheckpointKey(k []byte) {
	c.rep.Checkpoints++
	if sz, ok := index(k); ok && sz == 0 {
		c.damage(store.BucketCheckpoints, "0", "a checkpoint of the empty log is never stored")
		return
	}
	c.damage(store.BucketCheckpoints, numKey(k), "key is not an 8-byte size")
}

// verifyCheckpoint verifies a stored checkpoint against the log key of
// the genesis agreement and the recomputed root. It runs in parallel and
// only sets cw.problem.
func (c *checker) verifyCheckpoint(cw *cpWork) {
	if c.genesis == nil {
		cw.problem = "cannot be verified: entry 0 holds no readable agreement, so no log key"
		return
	}
	v, err := note.NewVerifier(c.genesis.LogKey)
	if err != nil {
		cw.problem = fmt.Sprintf("cannot be verified: the agreement's log_verifier_key: %v", err)
		return
	}
	cp, _, err := tlog.OpenCheckpoint(cw.signed, c.genesis.LogOrigin, v)
	switch {
	case err != nil:
		cw.problem = err.Error()
	case cp.Size != cw.size:
		cw.problem = fmt.Sprintf("the signed checkpoint is of size %d", cp.Size)
	case !bytes.Equal(cp.Hash, cw.root):
		cw.problem = fmt.Sprintf("signed root %x differs from the root recomputed from the entries (%x)", cp.Hash, cw.root)
	}
}
