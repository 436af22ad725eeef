package cli

import (
	"context"
	"flag"
	"fmt"
	"text/tabwriter"

	"github.com/mvm-exchange/mvm/client/mvmclient"
	mvmv1 "github.com/mvm-exchange/mvm/proto/mvm/v1"
)

// listCmd lists the packages the caller may read, as the server
// summarises them.
type listCmd struct {
	status   string
	pageSize uint
	keys     stringList
}

func (c *listCmd) register(fs *flag.FlagSet) {
	fs.StringVar(&c.status, "status", "", "only packages in this status")
	fs.UintVar(&c.pageSize, "page-size", 0, "packages per request (0: the server's default); every page is listed")
	keyFlag(fs, &c.keys)
}

func (c *listCmd) run(e *env, args []string) error {
	if err := exactly(0, args, "no positional arguments"); err != nil {
		return err
	}
	if err := checkStatus(c.status); err != nil {
		return err
	}
	if err := e.useKeys(c.keys); err != nil {
		return err
	}
	return e.withClient(func(ctx context.Context, cl *mvmclient.Client) error {
		// The server sees the cleartext headers only: a sealed package's
		// summary is opened here from its target package.
		open := e.newBodyOpener(cl)
		tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tSTATUS\tOUTCOME\tINDEX\tRECEIVED\tSUMMARY")
		err := cl.Packages(ctx, c.status, uint32(min(c.pageSize, 1<<31)), func(p *mvmv1.PackageSummary) error {
			summary := dash(p.Summary)
			if p.Summary == "" {
				summary = open.summary(ctx, p.PackageId)
			}
			_, err := fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\n", p.PackageId, p.Status, dash(p.Outcome), p.Index,
				stamp(p.ReceivedAt.AsTime()), summary)
			return err
		})
		if err != nil {
			return err
		}
		if err := tw.Flush(); err != nil {
			return err
		}
		for _, n := range open.takeNotes() {
			e.printf("%s\n", n)
		}
		return nil
	})
}
