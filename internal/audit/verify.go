package audit

import (
	"bytes"
	"context"
	"fmt"

	"golang.org/x/mod/sumdb/note"

	"github.com/mvm-exchange/mvm/internal/tlog"
)

// ProofFunc fetches the hashes of a consistency proof from size from to
// size to (from a server; nil where there is none, e.g. a bundle).
type ProofFunc func(from, to uint64) ([][]byte, error)

// CheckAgainst checks a checkpoint cp against the one a client verified
// before, prev (nil if none): the same log, no rollback, no other root at
// the same size, and, with proof, a consistency proof between the two.
func CheckAgainst(prev, cp *tlog.Checkpoint, proof ProofFunc) error {
	if prev == nil {
		return nil
	}
	switch {
	case prev.Origin != cp.Origin:
		return fmt.Errorf("state is for log %q, this is %q", prev.Origin, cp.Origin)
	case cp.Size < prev.Size:
		return fmt.Errorf("log rolled back: had size %d, server now shows %d", prev.Size, cp.Size)
	case cp.Size == prev.Size && !bytes.Equal(cp.Hash, prev.Hash):
		return fmt.Errorf("inconsistent with checkpoint of size %d: same size, different root (forked log)", prev.Size)
	}
	if proof != nil && prev.Size > 0 {
		hashes, err := proof(prev.Size, cp.Size)
		if err != nil {
			return fmt.Errorf("consistency proof from size %d: %w", prev.Size, err)
		}
		if err := tlog.VerifyConsistency(prev.Size, cp.Size, hashes, prev.Hash, cp.Hash); err != nil {
			return fmt.Errorf("inconsistent with checkpoint of size %d: %w", prev.Size, err)
		}
	}
	return nil
}

// Verified is a log verified up to a signed checkpoint.
type Verified struct {
	Checkpoint *tlog.Checkpoint
	// Signed is the checkpoint as the log signed it (with any cosignatures).
	Signed []byte
	*Report
}

// VerifyLog is what every client does before it believes the log: it opens
// signed under the pinned log key, checks it against the checkpoint
// verified before (CheckAgainst), runs [Run] over src up to its size with
// o, and checks that the leaves hash to its root, and their first
// prev.Size to prev's root. The audit command, and the commands that show
// or sign what the log holds (an agreement to amend, a witness count), call
// it rather than take the server's word.
func VerifyLog(ctx context.Context, src Source, signed []byte, logKey note.Verifier, prev *tlog.Checkpoint, proof ProofFunc, o Options) (*Verified, error) {
	cp, _, err := tlog.OpenCheckpoint(signed, logKey.Name(), logKey)
	if err != nil {
		return nil, fmt.Errorf("checkpoint: %w", err)
	}
	if err := CheckAgainst(prev, cp, proof); err != nil {
		return nil, err
	}
	if prev != nil {
		o.RootAt = prev.Size
	}
	rep, start, err := run(ctx, src, cp.Size, cp.Hash, o)
	if err != nil {
		return nil, err
	}
	if !bytes.Equal(rep.Root, cp.Hash) {
		return nil, fmt.Errorf("the entries hash to a root other than the signed checkpoint's (size %d)", cp.Size)
	}
	switch {
	case prev == nil || prev.Size == 0:
	case prev.Size < start && proof == nil:
		// Resumed past it: only a consistency proof ties the two.
		return nil, fmt.Errorf("cannot check against the checkpoint of size %d: the saved verifier state is past it, and no consistency proof was given", prev.Size)
	case prev.Size < start:
		// CheckAgainst verified the server's consistency proof.
	case !bytes.Equal(rep.RootAt, prev.Hash):
		return nil, fmt.Errorf("inconsistent with checkpoint of size %d: its first %d entries hash to another root", prev.Size, prev.Size)
	}
	return &Verified{Checkpoint: cp, Signed: signed, Report: rep}, nil
}
