package cli

import (
	"bytes"
	"context"
	"fmt"

	"github.com/mvm-exchange/mvm/client/mvmclient"
	"github.com/mvm-exchange/mvm/internal/forkproof"
	"github.com/mvm-exchange/mvm/internal/tlog"
	mvmv1 "github.com/mvm-exchange/mvm/proto/mvm/v1"
)

// compareWithNode hands the checkpoint saved in --state to the server when
// it is a mediator node (GetStatus role "node"), before anything is
// verified: a node shown another branch than the one this client verified
// proves the fork, writes its proof and raises its alarm
// (CompareCheckpoint). It returns what the node found, to be reported; a
// fork is an error, with the node's proof checked here under the pinned
// log key and written beside the state (STATE.fork-M-N). The client's own
// checks do not depend on the answer: a server that is no node, or that
// does not answer, is only noted. Once a run.
func (e *env) compareWithNode(ctx context.Context, c *mvmclient.Client, state stateFile) (string, error) {
	if state.path == "" || e.comparedWithNode {
		return "", nil
	}
	e.comparedWithNode = true
	saved, err := state.load()
	if err != nil || saved == nil {
		return "", err
	}
	st, err := e.status(ctx, c)
	if err != nil || st.Role != "node" {
		return "", nil
	}
	resp, err := c.API.CompareCheckpoint(ctx, &mvmv1.CompareCheckpointRequest{Checkpoint: []byte(saved.Checkpoint)})
	if err != nil {
		return fmt.Sprintf("the node did not compare the checkpoint saved in %s: %s", state.path, oneLine(err)), nil
	}
	switch resp.Comparison {
	case mvmv1.Comparison_COMPARISON_CONSISTENT:
		return fmt.Sprintf("the node's copy (size %d) is consistent with the checkpoint of size %d saved in %s", resp.Size, saved.Size, state.path), nil
	case mvmv1.Comparison_COMPARISON_AHEAD:
		return fmt.Sprintf("the node holds a checkpoint of size %d, smaller than the %d saved in %s: it cannot compare them yet (run again once it has caught up)",
			resp.Size, saved.Size, state.path), nil
	case mvmv1.Comparison_COMPARISON_FORK:
		return "", e.nodeFork(state, saved, resp)
	}
	return fmt.Sprintf("the node answered a comparison this client does not know (%v)", resp.Comparison), nil
}

// status is the server's GetStatus answer (what it is: the primary or a
// mediator node), asked once a run: the comparison of the saved state
// and the cosignature after the audit both need it.
func (e *env) status(ctx context.Context, c *mvmclient.Client) (*mvmv1.GetStatusResponse, error) {
	if e.serverStatus != nil {
		return e.serverStatus, nil
	}
	st, err := c.API.GetStatus(ctx, &mvmv1.GetStatusRequest{})
	if err != nil {
		return nil, err
	}
	e.serverStatus = st
	return st, nil
}

// nodeFork is the error for a fork the node proved: its proof must verify
// under the pinned log key (the client takes nothing on the node's word),
// and is written beside the state.
func (e *env) nodeFork(state stateFile, saved *auditState, resp *mvmv1.CompareCheckpointResponse) error {
	p, err := forkproof.Parse(resp.ForkProof)
	var fork *forkproof.Fork
	if err == nil {
		fork, err = forkproof.Verify(p, state.key)
	}
	if err != nil {
		return fmt.Errorf("the node at %s says the checkpoint saved in %s shows a fork, but its proof does not verify under the pinned log key: %w", e.server, state.path, err)
	}
	whose := ""
	for _, cp := range []*tlog.Checkpoint{fork.Small, fork.Large} {
		if cp.Size == saved.Size && bytes.Equal(cp.Hash, saved.Root) {
			whose = " (the one saved in " + state.path + " and the node's)"
		}
	}
	kept := "could not write its proof"
	if resp.ForkProofFile != "" {
		kept = "wrote its proof to " + resp.ForkProofFile + " on the node"
	}
	what := fmt.Sprintf("the node at %s proved a fork: the log signed inconsistent checkpoints of sizes %d and %d%s; the node raised its alarm and %s",
		e.server, fork.Small.Size, fork.Large.Size, whose, kept)
	path, err := writeForkProof(state.path, p, fork.Small.Size, fork.Large.Size)
	if err != nil {
		return fmt.Errorf("%s; the proof could not be written here: %w", what, err)
	}
	return fmt.Errorf("%s; the proof, verified here, is in %s (check it with verify-fork %s)", what, path, path)
}
