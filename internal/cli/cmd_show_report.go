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

// showReportCmd says who published which report of a month and whether it
// is agreed, from the verified log (never a server summary); with --file,
// whether a local JSON is the agreed report.
type showReportCmd struct {
	file  string
	state string
}

func (c *showReportCmd) register(fs *flag.FlagSet) {
	fs.StringVar(&c.file, "file", "", "check that the report JSON `FILE` is the agreed report of the month (its SHA-256)")
	stateFlag(fs, &c.state)
}

func (c *showReportCmd) run(e *env, args []string) error {
	if err := exactly(1, args, "the MONTH (YYYY-MM)"); err != nil {
		return err
	}
	month, err := report.ParseMonth(args[0])
	if err != nil {
		return usagef("%v", err)
	}
	var digest []byte
	if c.file != "" {
		raw, err := os.ReadFile(c.file)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(raw)
		digest = sum[:]
	}
	return e.withClient(func(ctx context.Context, cl *mvmclient.Client) error {
		mr, all, ag, cp, err := e.monthPublications(ctx, cl, c.state, month.String())
		if err != nil {
			return err
		}
		if err := e.printPublications(mr, all, ag); err != nil {
			return err
		}
		e.printf("verified against checkpoint size %d: every entry audited\n", cp.Size)
		switch {
		case digest == nil:
			return nil
		case mr.Agreed == nil:
			return fmt.Errorf("%s (sha256 %x): the report of %s is not agreed, so no file is the agreed report", c.file, digest, month)
		case !bytes.Equal(digest, mr.Agreed.Digest):
			return fmt.Errorf("%s (sha256 %x) is not the agreed report of %s (sha256 %x)", c.file, digest, month, mr.Agreed.Digest)
		}
		e.printf("%s is the agreed report of %s\n", c.file, month)
		return nil
	})
}
