package node

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"time"

	"github.com/mvm-exchange/mvm/client/mvmclient"
	"github.com/mvm-exchange/mvm/internal/atomicfile"
	"github.com/mvm-exchange/mvm/internal/forkproof"
	"github.com/mvm-exchange/mvm/internal/tlog"
	mvmv1 "github.com/mvm-exchange/mvm/proto/mvm/v1"
)

// Split views, proven (internal/forkproof). The node compares every
// checkpoint of the log key it meets with the latest one it verified: the
// primary's before copying past it, each peer node's (Config.Peers)
// every Config.PeerInterval, and a client's saved one it is handed
// (compare.go), all through against. When the two prove a fork, the proof is
// written (Config.ForkProofs + "-M-N"), the alarm raised (the copy stops,
// the status names the file) and nothing more is copied or cosigned. A
// smaller checkpoint of another branch (a primary restored from an older
// copy) is proven from the node's own tree; a larger one from the source's
// proof, which must reproduce its signed root.

// proveFork compares other, opened under the log key and served by
// theirs (from names it; theirs nil: nobody serves its tree), with the
// node's latest checkpoint. A proven fork is written and returned as the
// alarm's error; nil if the two are consistent or nothing is proven (then
// logged: the source did not serve what would prove it).
func (f *Follower) proveFork(theirs forkproof.Remote, from string, other *forkproof.Checkpoint) error {
	p, fork, err := f.against(theirs, other)
	switch {
	case err != nil:
		f.cfg.Logger.Warn("node: a checkpoint inconsistent with the node's, not proven", "from", from, "err", err)
		return nil
	case p == nil:
		return nil
	}
	ve, _ := f.forkFound(p, fork, from)
	return ve
}

// against is the one comparison of another checkpoint of the log key,
// opened already, with the node's latest (forkproof.AgainstOpened over
// the node's own tree): a proof and the fork it shows if the two prove
// one, nil and no error if they are consistent. No signature is verified
// here: other was opened by the caller, the node's latest once (held).
func (f *Follower) against(theirs forkproof.Remote, other *forkproof.Checkpoint) (*forkproof.Proof, *forkproof.Fork, error) {
	held, err := f.held()
	if err != nil || held == nil {
		return nil, nil, err
	}
	return forkproof.AgainstOpened(held, other, f.l.Store(), theirs)
}

// heldCheckpoint is the node's latest checkpoint opened under the log key
// in force (vkey), kept until the head changes.
type heldCheckpoint struct {
	*forkproof.Checkpoint
	vkey string
}

// held returns the node's latest checkpoint opened under the log key: its
// signature is verified once per head, not at every comparison.
func (f *Follower) held() (*forkproof.Checkpoint, error) {
	h := f.l.Head()
	if h == nil {
		return nil, nil
	}
	vkey := f.logVKey()
	f.mu.Lock()
	c := f.heldCP
	f.mu.Unlock()
	if c != nil && c.vkey == vkey && bytes.Equal(c.Signed, h.Checkpoint) {
		return c.Checkpoint, nil
	}
	cp, err := f.openCheckpoint(h.Checkpoint)
	if err != nil {
		return nil, fmt.Errorf("the node's latest checkpoint: %w", err)
	}
	f.mu.Lock()
	f.heldCP = &heldCheckpoint{cp, vkey}
	f.mu.Unlock()
	return cp, nil
}

// OnFork is the witness side's hook (witness.Handler.OnFork): a fork that
// an add-checkpoint request proved is written and raises the alarm, as
// one the node found itself.
func (f *Follower) OnFork(p *forkproof.Proof) {
	key, err := f.logKey()
	if err != nil {
		return
	}
	fork, err := forkproof.Verify(p, key)
	if err != nil {
		return
	}
	ve, _ := f.forkFound(p, fork, "an add-checkpoint request")
	f.raise(ve.index, ve.err)
}

// forkFound writes p, the proof of fork (from names where the other
// checkpoint came from), once: a proof of the same two sizes written
// before (by an earlier call, or before a restart) is kept as it is. It
// returns the alarm's error, which wraps the *forkProven it returns too.
func (f *Follower) forkFound(p *forkproof.Proof, fork *forkproof.Fork, from string) (*verifyError, *forkProven) {
	what := fmt.Sprintf("the log signed inconsistent checkpoints of sizes %d and %d (%s)", fork.Small.Size, fork.Large.Size, from)
	path := ""
	if f.cfg.ForkProofs != "" {
		path = fmt.Sprintf("%s-%d-%d", f.cfg.ForkProofs, fork.Small.Size, fork.Large.Size)
		if err := writeProofOnce(path, p); err != nil {
			f.cfg.Logger.Error("node: a fork proven, but its proof could not be written", "path", path, "err", err)
			path = ""
		}
	}
	if path != "" {
		what += ": proof in " + path + " (client verify-fork " + path + ")"
	}
	fp := &forkProven{proof: p, path: path, msg: "fork proven: " + what}
	return &verifyError{fork.Small.Size, fp}, fp
}

// writeProofOnce writes p at path unless a file is there: proofs are
// written atomically, so one there is whole, and proves a fork of the
// same two sizes.
func writeProofOnce(path string, p *forkproof.Proof) error {
	if _, err := os.Stat(path); err == nil {
		return nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	b, err := p.Marshal()
	if err != nil {
		return err
	}
	return atomicfile.WriteFile(path, b, 0o600)
}

// forkProven is the alarm's reason when a fork is proven: the proof and
// the file it was written to ("" if not).
type forkProven struct {
	proof *forkproof.Proof
	path  string
	msg   string
}

func (e *forkProven) Error() string { return e.msg }

// remote is a source's side of a fork proof, over its gRPC API.
type remote struct {
	ctx context.Context
	api mvmv1.ExchangeServiceClient
}

func (r remote) ConsistencyProof(from, to uint64) ([][]byte, error) {
	resp, err := r.api.GetConsistencyProof(r.ctx, &mvmv1.GetConsistencyProofRequest{From: from, To: to})
	return resp.GetHashes(), err
}

// RootAt hashes the source's first size leaves: asked for only when the
// node's size is a power of two and the source is ahead of it.
func (r remote) RootAt(size uint64) ([]byte, error) {
	tree, err := tlog.NewTree(0, nil)
	if err != nil {
		return nil, err
	}
	stream, err := r.api.GetEntries(r.ctx, &mvmv1.GetEntriesRequest{Start: 0, End: size})
	if err != nil {
		return nil, err
	}
	for tree.Size() < size {
		msg, err := stream.Recv()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		if msg.FirstIndex != tree.Size() {
			return nil, fmt.Errorf("entries from %d, want %d", msg.FirstIndex, tree.Size())
		}
		for _, leaf := range msg.Leaves {
			if tree.Size() < size {
				if err := tree.Append(tlog.LeafHash(leaf), nil); err != nil {
					return nil, err
				}
			}
		}
	}
	if tree.Size() != size {
		return nil, fmt.Errorf("the stream ended at %d of %d entries", tree.Size(), size)
	}
	return tree.Root()
}

// checkAhead checks, before copying up to target, that it extends what
// the node holds, by the primary's consistency proof; a proven fork is
// the alarm's error. Anything else is left to the copy, whose verifier
// checks the root.
func (f *Follower) checkAhead(ctx context.Context, mine uint64, target *signed, proof [][]byte) error {
	if mine == 0 {
		return nil
	}
	root, err := f.v.Root() // at mine; the file may not hold it yet (a commit in flight)
	if err != nil {
		return err
	}
	if proof != nil && tlog.VerifyConsistency(mine, target.cp.Size, proof, root, target.cp.Hash) == nil {
		return nil // the proof asked for early (next.go); else asked again
	}
	resp, err := f.client.API.GetConsistencyProof(ctx, &mvmv1.GetConsistencyProofRequest{From: mine, To: target.cp.Size})
	if err == nil && tlog.VerifyConsistency(mine, target.cp.Size, resp.Hashes, root, target.cp.Hash) == nil {
		return nil
	}
	if err := f.settle(); err != nil {
		return err
	}
	return f.proveFork(remote{ctx, f.client.API}, "the primary "+f.cfg.Primary, target.opened())
}

// WatchPeers compares the latest checkpoint of each peer node
// (Config.Peers) with the node's own every Config.PeerInterval, as the
// node's client identity, until ctx ends. A proven fork raises the alarm.
func (f *Follower) WatchPeers(ctx context.Context) {
	if len(f.cfg.Peers) == 0 {
		return
	}
	type peer struct {
		addr string
		c    *mvmclient.Client
	}
	peers := make([]peer, 0, len(f.cfg.Peers))
	for _, addr := range f.cfg.Peers {
		c, err := mvmclient.Dial(mvmclient.Options{Server: addr, CertFile: f.cfg.CertFile, KeyFile: f.cfg.KeyFile,
			ServerCA: f.cfg.ServerCA, Retries: -1})
		if err != nil {
			f.cfg.Logger.Error("node: peer", "peer", addr, "err", err)
			continue
		}
		defer c.Close()
		peers = append(peers, peer{addr, c})
	}
	t := time.NewTicker(f.cfg.PeerInterval)
	defer t.Stop()
	for {
		for _, p := range peers {
			if err := f.comparePeer(ctx, p.addr, p.c); err != nil {
				var ve *verifyError
				if errors.As(err, &ve) {
					f.raise(ve.index, ve.err)
					return
				}
				f.cfg.Logger.Debug("node: comparing with a peer", "peer", p.addr, "err", err)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// comparePeer takes one peer's latest checkpoint and compares it.
func (f *Follower) comparePeer(ctx context.Context, addr string, c *mvmclient.Client) error {
	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	resp, err := c.API.GetCheckpoint(cctx, &mvmv1.GetCheckpointRequest{})
	if err != nil {
		return err
	}
	cp, err := f.openCheckpoint(resp.Checkpoint)
	if err != nil {
		return fmt.Errorf("the peer's checkpoint: %w", err)
	}
	return f.proveFork(remote{cctx, c.API}, "peer node "+addr, cp)
}

// openCheckpoint opens a checkpoint under the log key in force and the
// log's origin.
func (f *Follower) openCheckpoint(signed []byte) (*forkproof.Checkpoint, error) {
	key, err := f.logKey()
	if err != nil {
		return nil, err
	}
	cp, _, err := tlog.OpenCheckpoint(signed, f.l.Origin(), key)
	if err != nil {
		return nil, err
	}
	return &forkproof.Checkpoint{Signed: signed, Checkpoint: cp}, nil
}
