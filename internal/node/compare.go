package node

import (
	"errors"
	"fmt"

	mvmv1 "github.com/mvm-exchange/mvm/proto/mvm/v1"
)

// A client's saved checkpoint (CompareCheckpoint, issue 16). A party that
// verified the log keeps the latest checkpoint it verified (--state). If
// the primary showed it one branch and the node another, only the party
// holds the checkpoint that shows it: handed to the node, it goes the way
// of the primary's and the peers' (against, forkFound), so that the node
// proves the fork, writes the proof and raises its alarm as for those.
//
// A caller cannot make the node alarm with anything but a fork of the log
// key: the checkpoint must open under the log key in force and the log's
// origin, and the alarm is raised only for a proof that verifies. A
// checkpoint the node holds, or a prefix of its copy (an old one
// replayed), is consistent. One larger than the node's latest is not
// comparable yet: the node holds no nodes of that tree, and asks nobody
// for them on a caller's behalf; it answers COMPARISON_AHEAD and keeps
// nothing (a caller asks again once the node has caught up). So a call
// costs O(log n) reads of the node's own tree, and holds a read slot of
// its caller (the service's read limits), nothing more.

// ErrNotLogCheckpoint is a checkpoint handed to the node that does not open
// under the log key in force (or is of another log): nothing is compared
// or kept. Hand it the checkpoint as the log served it.
var ErrNotLogCheckpoint = errors.New("node: not a checkpoint signed by the log key")

// CompareCheckpoint compares signed, a checkpoint of the log key that a
// client holds (from names it, e.g. "client tr/tr-verifier's saved
// state"), with the node's latest checkpoint. A fork they prove is written
// (Config.ForkProofs), raises the alarm and is answered with the proof.
// An error wraps ErrNotLogCheckpoint for a checkpoint refused; any other
// is the node's own failure to read its tree.
func (f *Follower) CompareCheckpoint(from string, signed []byte) (*mvmv1.CompareCheckpointResponse, error) {
	// Its signature is verified here, once; the node's latest once per
	// head (held).
	cp, err := f.openCheckpoint(signed)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrNotLogCheckpoint, err)
	}
	h := f.l.Head()
	if h == nil || cp.Size > h.Signed() {
		resp := &mvmv1.CompareCheckpointResponse{Comparison: mvmv1.Comparison_COMPARISON_AHEAD}
		if h != nil {
			resp.Size = h.Signed()
		}
		return resp, nil
	}
	// The head may have grown since: compared with a larger one, which
	// holds cp's size too.
	p, fork, err := f.against(nil, cp)
	if err != nil {
		return nil, fmt.Errorf("node: comparing %s's checkpoint of size %d: %w", from, cp.Size, err)
	}
	size := f.l.Head().Signed()
	if p == nil {
		f.cfg.Logger.Debug("node: a checkpoint consistent with the node's", "from", from, "size", cp.Size, "node_size", size)
		return &mvmv1.CompareCheckpointResponse{Comparison: mvmv1.Comparison_COMPARISON_CONSISTENT, Size: size}, nil
	}
	ve, fp := f.forkFound(p, fork, from)
	f.raise(ve.index, ve.err)
	b, err := fp.proof.Marshal()
	if err != nil {
		return nil, err
	}
	return &mvmv1.CompareCheckpointResponse{Comparison: mvmv1.Comparison_COMPARISON_FORK, Size: size,
		ForkProof: b, ForkProofFile: fp.path}, nil
}
