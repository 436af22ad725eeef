package cli

import (
	"bytes"
	"context"
	"crypto/sha256"
	"flag"
	"fmt"
	"os"

	"github.com/mvm-exchange/mvm/client/mvmclient"
	"github.com/mvm-exchange/mvm/internal/report"
)

// verifyReportCmd recomputes a report's JSON from the log at the
// checkpoint it names and says whether every number matches.
type verifyReportCmd struct {
	publish bool
	keys    stringList
}

func (c *verifyReportCmd) register(fs *flag.FlagSet) {
	fs.BoolVar(&c.publish, "publish", false, "if it matches, append a signed publication of this file (mediators): how a second mediator agrees with a published report")
	keyFlag(fs, &c.keys)
}

func (c *verifyReportCmd) run(e *env, args []string) error {
	if err := exactly(1, args, "the report's JSON file"); err != nil {
		return err
	}
	raw, err := os.ReadFile(args[0])
	if err != nil {
		return err
	}
	claimed, err := report.ParseJSON(raw)
	if err != nil {
		return fmt.Errorf("%s: %w", args[0], err)
	}
	month, err := report.ParseMonth(claimed.Month)
	if err != nil {
		return fmt.Errorf("%s: %w", args[0], err)
	}
	if err := e.useKeys(c.keys); err != nil {
		return err
	}
	return e.withClient(func(ctx context.Context, cl *mvmclient.Client) error {
		// The log as of the report's own checkpoint: it must verify under
		// the pinned key, and the log must hash to it.
		r, err := e.computeReport(ctx, cl, "", []byte(claimed.Checkpoint.Signed), month)
		if err != nil {
			return fmt.Errorf("%s: %w", args[0], err)
		}
		if diff := report.Diff(claimed, r); len(diff) > 0 {
			for _, d := range diff {
				e.printf("differs: %s\n", d)
			}
			return fmt.Errorf("%s does not match the log at checkpoint size %d: %d fields differ", args[0], r.Checkpoint.Size, len(diff))
		}
		e.printf("%s matches the log at checkpoint size %d: every figure recomputed from the verified entries\n", args[0], r.Checkpoint.Size)
		if !c.publish {
			return nil
		}
		// What is published is the file's digest: it must be the bytes
		// monthly-report writes for these figures, or the same report
		// would be two digests and never agreed.
		mine, err := report.JSON(r)
		if err != nil {
			return err
		}
		if !bytes.Equal(mine, raw) {
			return fmt.Errorf("%s has the log's figures but not the bytes monthly-report writes for them (re-encoded?): not published; publish the original file", args[0])
		}
		sum := sha256.Sum256(raw)
		return e.publishReport(cl, claimed.Month, sum[:], r.Checkpoint)
	})
}
