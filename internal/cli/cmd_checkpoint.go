package cli

import (
	"context"
	"flag"
	"fmt"

	"github.com/mvm-exchange/mvm/client/mvmclient"
	"github.com/mvm-exchange/mvm/internal/audit"
	mvmv1 "github.com/mvm-exchange/mvm/proto/mvm/v1"
)

// checkpointCmd prints a checkpoint with its cosignatures, counted here.
type checkpointCmd struct {
	statePath string // --state, and the verifier's state beside it
	size      uint64
	witnessed bool
}

func (c *checkpointCmd) register(fs *flag.FlagSet) {
	fs.Uint64Var(&c.size, "size", 0, "the checkpoint of this size (default the latest)")
	fs.BoolVar(&c.witnessed, "witnessed", false, "the latest checkpoint cosigned by the witness quorum")
	stateFlag(fs, &c.statePath) // the witnesses are counted under the agreement derived with it
}

func (c *checkpointCmd) run(e *env, args []string) error {
	if err := exactly(0, args, "no positional arguments"); err != nil {
		return err
	}
	key, err := e.logVerifier("")
	if err != nil {
		return err
	}
	return e.withClient(func(ctx context.Context, cl *mvmclient.Client) error {
		resp, err := cl.API.GetCheckpoint(ctx, &mvmv1.GetCheckpointRequest{Size: c.size, Witnessed: c.witnessed})
		if err != nil {
			return err
		}
		if _, err := key.checkpoint(resp.Checkpoint); err != nil {
			return fmt.Errorf("the server's checkpoint does not verify: %w", err)
		}
		// Counted here, under the agreement in force at the checkpoint's
		// size, derived from the log up to it: the server's count and its
		// GetAgreement are not taken.
		ver, err := e.verifiedLog(ctx, cl, c.statePath, resp.Checkpoint, audit.Options{AgreementsOnly: true})
		if err != nil {
			return err
		}
		n, err := key.witnesses(resp.Checkpoint, ver.Agreement)
		if err != nil {
			return err
		}
		// What was asked for is checked too, not taken on the server's
		// word: the size, and the witness quorum.
		if c.size != 0 && ver.Checkpoint.Size != c.size {
			return fmt.Errorf("asked for the checkpoint of size %d, the server sent size %d; nothing printed", c.size, ver.Checkpoint.Size)
		}
		if c.witnessed && !ver.Agreement.Witnessed(n.Count()) {
			return fmt.Errorf("asked for a witnessed checkpoint, the server sent size %d cosigned by %s; nothing printed",
				ver.Checkpoint.Size, witnessLine(n, ver.Agreement))
		}
		e.printf("%s", resp.Checkpoint)
		fmt.Fprintf(e.stderr, "cosignatures checked against the agreement in force at size %d (index %d): %s\n",
			ver.Checkpoint.Size, ver.Agreement.Index, witnessLine(n, ver.Agreement))
		return nil
	})
}
