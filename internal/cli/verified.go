package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"time"

	"github.com/mvm-exchange/mvm/client/mvmclient"
	"github.com/mvm-exchange/mvm/internal/audit"
	"github.com/mvm-exchange/mvm/internal/tlog"
	"github.com/mvm-exchange/mvm/internal/verify"
	"github.com/mvm-exchange/mvm/internal/workflow"
	mvmv1 "github.com/mvm-exchange/mvm/proto/mvm/v1"
)

// verifiedLog is the one way a command that shows, signs or counts what
// the log holds gets at it (DESIGN invariant 8): a checkpoint (signed, as
// the caller fetched it, or else the server's latest) is verified with
// the log up to it by checkedLog, from the pinned genesis. Commands of the
// agreements only (show, amend, checkpoint, watch) with --state keep their
// verifier's state beside it (verifierState), and verify only the entries
// logged since. With --state, a mediator node is handed the saved
// checkpoint first (compareWithNode).
func (e *env) verifiedLog(ctx context.Context, c *mvmclient.Client, statePath string, signed []byte, o audit.Options) (*audit.Verified, error) {
	key, err := e.logVerifier("")
	if err != nil {
		return nil, err
	}
	if _, o.Genesis, err = e.pinnedAgreement(""); err != nil {
		return nil, err
	}
	found, err := e.compareWithNode(ctx, c, stateFile{path: statePath, key: key})
	if err != nil {
		return nil, err
	}
	if found != "" {
		fmt.Fprintf(e.stderr, "%s\n", found)
	}
	if signed == nil {
		resp, err := c.API.GetCheckpoint(ctx, &mvmv1.GetCheckpointRequest{})
		if err != nil {
			return nil, err
		}
		signed = resp.Checkpoint
	}
	if statePath != "" && o.AgreementsOnly && !o.Bounded {
		o.Saved, o.Members = verifierState{path: statePath + verifierStateSuffix}, true
	}
	ver, err := e.checkedLog(ctx, c, signed, stateFile{path: statePath, key: key}, consistencyProof(ctx, c), o, nil)
	if le := (*logError)(nil); errors.As(err, &le) {
		return nil, fmt.Errorf("the log does not verify, nothing done: %w", le.err)
	}
	return ver, err
}

// logError is checkedLog's failure of the log itself (not of the state
// file, nor of accept): each caller says it in its own words.
type logError struct{ err error }

func (e *logError) Error() string { return e.err.Error() }
func (e *logError) Unwrap() error { return e.err }

// checkedLog is the one path by which the client believes a log, for
// audit and for every command through verifiedLog: signed must verify
// under the pinned log key and be consistent with the checkpoint saved in
// state, if any (with proof, the server's consistency proof); the log
// from src is then verified up to it (audit.VerifyLog with o), then
// accept, if not nil, runs on it (audit prints and opens bodies there),
// and the checkpoint is saved in state, unless older than the one there.
func (e *env) checkedLog(ctx context.Context, src audit.Source, signed []byte, state stateFile, proof audit.ProofFunc,
	o audit.Options, accept func(ver *audit.Verified, prev *tlog.Checkpoint) error) (*audit.Verified, error) {
	prev, err := state.load()
	if err != nil {
		return nil, err
	}
	ver, err := audit.VerifyLog(ctx, src, signed, state.key, prev.checkpoint(), proof, o)
	if err != nil {
		e.proveFork(ctx, src, state.key, state.path, prev, signed, proof)
		if vs, ok := o.Saved.(verifierState); ok && (errors.Is(err, verify.ErrState) || errors.Is(err, audit.ErrSavedAhead)) {
			err = fmt.Errorf("%s: %w (remove it to verify the log from its start)", vs.path, err)
		}
		return nil, &logError{err}
	}
	if accept != nil {
		if err := accept(ver, prev.checkpoint()); err != nil {
			return nil, err
		}
	}
	if state.path != "" && (prev == nil || ver.Checkpoint.Size >= prev.Size) {
		if err := state.save(ver.Checkpoint, ver.Signed); err != nil {
			return nil, err
		}
	}
	return ver, nil
}

// consistencyProof asks the server for consistency proofs.
func consistencyProof(ctx context.Context, c *mvmclient.Client) audit.ProofFunc {
	return func(from, to uint64) ([][]byte, error) {
		r, err := c.API.GetConsistencyProof(ctx, &mvmv1.GetConsistencyProofRequest{From: from, To: to})
		return r.GetHashes(), err
	}
}

// stateFlag registers --state for the commands that verify what they show.
func stateFlag(fs *flag.FlagSet, p *string) {
	fs.StringVar(p, "state", "", "checkpoint state file (as audit --state): what is shown must be consistent with the checkpoint saved there, and the newer one is saved; the verifier's state is kept beside it (FILE"+verifierStateSuffix+"), so the next run verifies only new entries")
}

// verifiedBreaches derives the breaches of req (a party, an as-of time) on
// the client: the whole log audited up to a checkpoint of the pinned key
// (audit.VerifyLog, the reducer and workflow.Breaches the server runs),
// printed, then compared with the server's answer, which must be the same.
func (e *env) verifiedBreaches(ctx context.Context, c *mvmclient.Client, req *mvmv1.GetBreachesRequest, statePath string) error {
	asOf := req.AsOf.AsTime()
	ver, err := e.verifiedLog(ctx, c, statePath, nil, audit.Options{AsOf: asOf})
	if err != nil {
		return err
	}
	var mine []workflow.Breach
	for _, b := range ver.Breaches {
		if req.Party == "" || b.Party == req.Party {
			mine = append(mine, b)
		}
	}
	if err := e.printBreaches(ctx, c, asOf, mine); err != nil {
		return err
	}
	e.printf("verified against checkpoint size %d: every entry audited\n", ver.Checkpoint.Size)
	resp, err := c.Breaches(ctx, req)
	if err != nil {
		return fmt.Errorf("the server's breaches: %w", err)
	}
	key := func(pkg, party, deadline string, due time.Time) string {
		return pkg + "\x00" + party + "\x00" + deadline + "\x00" + due.UTC().Format(time.RFC3339Nano)
	}
	// Compared as multisets: a breach the server lists twice does not
	// stand in for one it leaves out.
	want := map[string]int{}
	for _, b := range mine {
		want[key(b.PackageID, b.Party, b.Deadline, b.Due)]++
	}
	same := len(resp.Breaches) == len(mine)
	for _, b := range resp.Breaches {
		k := key(b.PackageId, b.Party, b.Deadline, b.Due.AsTime())
		same = same && want[k] > 0
		want[k]--
	}
	if !same {
		return fmt.Errorf("the server's answer differs from the log: it lists %d breaches, the log gives %d", len(resp.Breaches), len(mine))
	}
	e.printf("the server's answer agrees\n")
	return nil
}
