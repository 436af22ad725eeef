package cli

import (
	"context"
	"fmt"

	"github.com/mvm-exchange/mvm/internal/audit"
	"github.com/mvm-exchange/mvm/internal/forkproof"
	"github.com/mvm-exchange/mvm/internal/tlog"
)

// proveFork is called when a checkpoint the log signed did not verify
// against the one saved in --state: if the two prove a fork
// (internal/forkproof), the proof is written beside the state, as
// STATE.fork-M-N, and the path printed, for anyone to check with
// verify-fork. The refusal stands either way; a pair that proves nothing
// (a rollback: the client holds no nodes of the larger tree) writes
// nothing.
//
// The hashes are the log's own consistency proof if it proves the fork as
// it stands, or else computed here from the leaves the log serves up to
// the new size (they must hash to its signed root, or nothing is proven).
func (e *env) proveFork(ctx context.Context, src audit.Source, key logKey, statePath string, prev *auditState, signed []byte, proof audit.ProofFunc) {
	if prev == nil || statePath == "" {
		return
	}
	p, err := makeForkProof(ctx, src, key, []byte(prev.Checkpoint), signed, proof)
	if err != nil || p == nil {
		return
	}
	small, _ := key.checkpoint(p.Small)
	large, _ := key.checkpoint(p.Large)
	path, err := writeForkProof(statePath, p, small.Size, large.Size)
	if err != nil {
		fmt.Fprintf(e.stderr, "fork proof: the log signed two inconsistent checkpoints, but the proof could not be written: %v\n", err)
		return
	}
	fmt.Fprintf(e.stderr, "fork proof: the log signed inconsistent checkpoints of sizes %d and %d; proof written to %s (check it with verify-fork %s)\n",
		small.Size, large.Size, path, path)
}

// writeForkProof writes a fork proof of sizes m and n beside the state,
// as STATE.fork-M-N, and returns its path.
func writeForkProof(statePath string, p *forkproof.Proof, m, n uint64) (string, error) {
	path := fmt.Sprintf("%s.fork-%d-%d", statePath, m, n)
	b, err := p.Marshal()
	if err == nil {
		err = writeOutBytes(path, b)
	}
	return path, err
}

// makeForkProof returns a fork proof of prev and signed, nil if they do
// not prove one.
func makeForkProof(ctx context.Context, src audit.Source, key logKey, prev, signed []byte, proof audit.ProofFunc) (*forkproof.Proof, error) {
	old, err := key.checkpoint(prev)
	if err != nil {
		return nil, err
	}
	cp, err := key.checkpoint(signed)
	if err != nil {
		return nil, err
	}
	switch {
	case old.Size == cp.Size:
		return forkproof.Make(prev, signed, nil, key)
	case old.Size > cp.Size || old.Size == 0:
		return nil, nil
	}
	if proof != nil {
		if hashes, err := proof(old.Size, cp.Size); err == nil {
			if tlog.VerifyConsistency(old.Size, cp.Size, hashes, old.Hash, cp.Hash) == nil {
				return nil, nil // consistent: the audit failed for another reason
			}
			if p, err := forkproof.Make(prev, signed, hashes, key); err == nil {
				return p, nil
			}
		}
	}
	if src == nil {
		return nil, nil
	}
	c, err := forkproof.NewCollector(old.Size, cp.Size)
	if err != nil {
		return nil, err
	}
	err = src.Entries(ctx, 0, cp.Size, func(_ uint64, leaf []byte) error { return c.Add(tlog.LeafHash(leaf)) })
	if err != nil {
		return nil, err
	}
	hashes, _, err := c.Proof()
	if err != nil {
		return nil, err
	}
	return forkproof.Make(prev, signed, hashes, key)
}
