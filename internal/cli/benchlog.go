package cli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/mvm-exchange/mvm/client/mvmclient"
	"github.com/mvm-exchange/mvm/internal/bench"
	"github.com/mvm-exchange/mvm/internal/entry"
	"github.com/mvm-exchange/mvm/internal/envelope"
	"github.com/mvm-exchange/mvm/internal/message"
	"github.com/mvm-exchange/mvm/internal/tlog"
	"github.com/mvm-exchange/mvm/internal/workflow"
	mvmv1 "github.com/mvm-exchange/mvm/proto/mvm/v1"
)

// errForeign stops the scan at the first entry bench did not write.
var errForeign = errors.New("foreign entry")

// checkBenchLog makes sure that bench is about to write into a log that
// holds nothing but the agreement and bench's own packages ([bench.Wrote]):
// a bench run appends thousands of real, signed target packages, which
// would bury real work. It reads the log itself, not a server's claim: every
// entry after the agreement is decoded, and the entries are hashed to the
// checkpoint, which must verify under the pinned log key (CERTS/log.vkey)
// when there is one. A refusal names the first entry that is not bench's.
func (e *env) checkBenchLog(ctx context.Context, c *mvmclient.Client) error {
	resp, err := c.API.GetCheckpoint(ctx, &mvmv1.GetCheckpointRequest{})
	if err != nil {
		return err
	}
	var cp tlog.Checkpoint
	v, err := e.logVerifier("")
	switch {
	case errors.Is(err, os.ErrNotExist):
		if _, err := cp.Unmarshal(noteText(resp.Checkpoint)); err != nil {
			return fmt.Errorf("the server's checkpoint: %w", err)
		}
	case err != nil:
		return err
	default:
		opened, err := v.checkpoint(resp.Checkpoint)
		if err != nil {
			return fmt.Errorf("the server's checkpoint does not verify: %w", err)
		}
		cp = *opened
	}
	tree, err := tlog.NewTree(0, nil)
	if err != nil {
		return err
	}
	var foreign string
	err = c.Entries(ctx, 0, cp.Size, func(index uint64, leaf []byte) error {
		if err := tree.Append(tlog.LeafHash(leaf), nil); err != nil {
			return err
		}
		if index == 0 {
			return nil // the agreement
		}
		if what, ok := benchEntry(leaf); !ok {
			foreign = fmt.Sprintf("entry %d (%s)", index, what)
			return errForeign
		}
		return nil
	})
	if errors.Is(err, errForeign) {
		return fmt.Errorf("the log at %s holds work bench did not write: %s; bench appends real signed packages, "+
			"so run it on a log of its own (scripts/bench.sh starts one), or pass --force to write into this one",
			e.server, foreign)
	}
	if err != nil {
		return fmt.Errorf("reading the log: %w", err)
	}
	root, err := tree.Root()
	if err != nil {
		return err
	}
	if !bytes.Equal(root, cp.Hash) {
		return fmt.Errorf("the log's entries do not hash to its checkpoint of size %d", cp.Size)
	}
	return nil
}

// benchEntry reports whether a leaf holds a package bench wrote, and if
// not, what it holds.
func benchEntry(leaf []byte) (string, bool) {
	ent, err := entry.DecodeLeaf(leaf)
	if err != nil {
		return "undecodable", false
	}
	env, err := envelope.Parse(ent.Envelope)
	if err != nil {
		return "undecodable envelope", false
	}
	p, err := message.Decode(env.PayloadType, env.Payload)
	if err != nil {
		return env.PayloadType, false
	}
	what := workflow.ShortType(env.PayloadType)
	if id := message.PackageID(p); id != "" {
		what += " " + id
	}
	return what, bench.Wrote(p)
}
