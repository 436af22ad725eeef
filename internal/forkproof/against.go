package forkproof

import (
	"errors"
	"fmt"

	"golang.org/x/mod/sumdb/note"

	"github.com/mvm-exchange/mvm/internal/tlog"
)

// Remote is the source of a checkpoint being compared with one a holder
// verified (a primary, another node), as far as a proof needs it.
type Remote interface {
	// ConsistencyProof is its standard consistency proof from size from
	// to size to (GetConsistencyProof).
	ConsistencyProof(from, to uint64) ([][]byte, error)
	// RootAt is the root of its first size leaves, hashed by the caller
	// from the leaves it serves (GetEntries): asked for only when size is
	// a power of two, so the standard proof leaves that root out.
	RootAt(size uint64) ([]byte, error)
}

// Against compares other, a checkpoint signed by the log key, with held,
// the one a holder verified entry by entry and whose tree's nodes it keeps
// (mine, e.g. a mediator node's store), and returns a fork proof if the
// two prove one; nil and no error if they are consistent. Its cost:
//
//   - other of held's size: nothing beyond the roots;
//   - other smaller (a rollback, or a lagging view): the proof is read from
//     mine, which holds the larger tree, so a fork is always proven;
//   - other larger: the proof comes from theirs, whose tree it is (the
//     standard proof, and the root of its first held-size leaves when that
//     size is a power of two); if what theirs serves does not reproduce
//     other's root, nothing is proven and the error wraps ErrNotAFork.
//
// Whatever it returns, the caller holding two checkpoints that do not
// verify as consistent refuses to go on with other.
func Against(held, other []byte, mine tlog.NodeReader, theirs Remote, logKey note.Verifier) (*Proof, error) {
	h, err := open(held, logKey, "held")
	if err != nil {
		return nil, err
	}
	o, err := open(other, logKey, "other")
	if err != nil {
		return nil, err
	}
	p, _, err := AgainstOpened(&Checkpoint{held, h}, &Checkpoint{other, o}, mine, theirs)
	return p, err
}

// AgainstOpened is [Against] over checkpoints opened under the log key
// already (tlog.OpenCheckpoint, [Checkpoint]): no signature is verified again. With a
// proof it returns the fork the proof shows ([Verify]'s answer).
func AgainstOpened(held, other *Checkpoint, mine tlog.NodeReader, theirs Remote) (*Proof, *Fork, error) {
	h, o := held.Checkpoint, other.Checkpoint
	var hashes [][]byte
	var err error
	switch {
	case h.Size == o.Size || h.Size == 0 || o.Size == 0:
	case o.Size < h.Size:
		if hashes, err = ConsistencyProof(mine, o.Size, h.Size); err != nil {
			return nil, nil, fmt.Errorf("forkproof: the held tree's proof from %d to %d: %w", o.Size, h.Size, err)
		}
	default:
		if theirs == nil {
			return nil, nil, fmt.Errorf("%w: no source for the larger tree's nodes", ErrNotAFork)
		}
		if hashes, err = theirs.ConsistencyProof(h.Size, o.Size); err != nil {
			return nil, nil, fmt.Errorf("forkproof: the other's proof from %d to %d: %w", h.Size, o.Size, err)
		}
		if h.Size&(h.Size-1) == 0 {
			seed, err := theirs.RootAt(h.Size)
			if err != nil {
				return nil, nil, fmt.Errorf("forkproof: the other's root at %d: %w", h.Size, err)
			}
			hashes = append([][]byte{seed}, hashes...)
		}
	}
	p, f, err := makeOpened(held, other, hashes)
	if err == nil || !errors.Is(err, ErrNotAFork) {
		return p, f, err
	}
	small, large := h, o
	if o.Size < h.Size {
		small, large = o, h
	}
	if small.Size == large.Size || tlog.VerifyConsistency(small.Size, large.Size, stdForm(small.Size, hashes), small.Hash, large.Hash) == nil {
		return nil, nil, nil // consistent
	}
	// Inconsistent, but the hashes do not reproduce the larger root: the
	// source of the larger tree did not serve its nodes.
	return nil, nil, err
}

// stdForm is the standard proof of a full-form one: without the first
// hash when from is a power of two.
func stdForm(from uint64, full [][]byte) [][]byte {
	if from != 0 && from&(from-1) == 0 && len(full) > 0 {
		return full[1:]
	}
	return full
}
