package cli

import (
	"context"
	"flag"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/mvm-exchange/mvm/client/mvmclient"
	mvmv1 "github.com/mvm-exchange/mvm/proto/mvm/v1"
)

func init() {
	var showState string
	register(&registered{
		name: "show", args: "ID [--state FILE]", summary: "show a package re-derived from its signed entries: status, every signed field, history",
		flags: func(fs *flag.FlagSet) { stateFlag(fs, &showState) },
		run: func(e *env, fs *flag.FlagSet, args []string) error {
			if err := exactly(1, args, "the package ID"); err != nil {
				return err
			}
			return e.withClient(func(ctx context.Context, c *mvmclient.Client) error {
				return e.show(ctx, c, args[0], showState)
			})
		},
	})
	var status string
	var pageSize uint
	register(&registered{
		name: "list", args: "[--status S] [--page-size N]", summary: "list the packages you may read, with their status",
		flags: func(fs *flag.FlagSet) {
			fs.StringVar(&status, "status", "", "only packages in this status")
			fs.UintVar(&pageSize, "page-size", 0, "packages per request (0: the server's default); every page is listed")
		},
		run: func(e *env, fs *flag.FlagSet, args []string) error {
			if err := exactly(0, args, "no positional arguments"); err != nil {
				return err
			}
			if err := checkStatus(status); err != nil {
				return err
			}
			return e.withClient(func(ctx context.Context, c *mvmclient.Client) error {
				tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "ID\tSTATUS\tOUTCOME\tINDEX\tRECEIVED\tSUMMARY")
				err := c.Packages(ctx, status, uint32(min(pageSize, 1<<31)), func(p *mvmv1.PackageSummary) error {
					_, err := fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\n", p.PackageId, p.Status, dash(p.Outcome), p.Index,
						stamp(p.ReceivedAt.AsTime()), dash(p.Summary))
					return err
				})
				if err != nil {
					return err
				}
				return tw.Flush()
			})
		},
	})
}

func (e *env) withClient(fn func(ctx context.Context, c *mvmclient.Client) error) error {
	c, err := e.dial()
	if err != nil {
		return err
	}
	defer c.Close()
	ctx, cancel := e.context()
	defer cancel()
	return fn(ctx, c)
}

func stamp(t time.Time) string { return t.UTC().Format(time.RFC3339) }

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
