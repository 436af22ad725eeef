package cli

import (
	"context"
	"flag"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/mvm-exchange/mvm/client/mvmclient"
	mvmv1 "github.com/mvm-exchange/mvm/proto/mvm/v1"
)

func init() {
	register(&command{
		name: "show", args: "ID", summary: "show a package: status, outcome and its signed history",
		run: func(e *env, fs *flag.FlagSet, args []string) error {
			if err := exactly(1, args, "the package ID"); err != nil {
				return err
			}
			return e.withClient(func(ctx context.Context, c *mvmclient.Client) error {
				resp, err := c.Package(ctx, args[0])
				if err != nil {
					return err
				}
				p := resp.Package
				e.printf("package: %s\nstatus: %s\nsubmitter: %s\nresponder: %s\n", p.PackageId, p.Status, p.Submitter, p.Responder)
				if p.Outcome != "" {
					e.printf("outcome: %s\n", p.Outcome)
				}
				if p.Summary != "" {
					e.printf("summary: %s\n", p.Summary)
				}
				for _, r := range p.OpenRequests {
					e.printf("open request: %s\n", r)
				}
				for _, f := range p.Findings {
					e.printf("finding: %s %s by %s (index %d)\n", f.FindingId, f.Verdict, f.Mediator, f.Index)
				}
				if p.DisputeId != "" {
					e.printf("dispute: %s\n", p.DisputeId)
				}
				for _, r := range p.PendingRulings {
					e.printf("ruling signed by %s: %s\n", strings.Join(r.Mediators, ", "), r.Decision)
				}
				if p.Decision != "" {
					e.printf("decision: %s\n", p.Decision)
				}
				for _, d := range p.Deadlines {
					met := "open"
					if d.Met != nil {
						met = "met " + stamp(d.Met.AsTime())
					}
					e.printf("deadline: %s by %s due %s, %s\n", d.Name, d.Party, stamp(d.Due.AsTime()), met)
				}
				e.printf("history:\n")
				for _, h := range resp.History {
					e.printf("  #%d %s %-24s by %s: %s\n", h.Index, stamp(h.ReceivedAt.AsTime()), h.PayloadType, h.Author, h.Summary)
				}
				return nil
			})
		},
	})
	var status string
	var pageSize uint
	register(&command{
		name: "list", args: "[--status S] [--page-size N]", summary: "list the packages you may read, with their status",
		flags: func(fs *flag.FlagSet) {
			fs.StringVar(&status, "status", "", "only packages in this status")
			fs.UintVar(&pageSize, "page-size", 0, "packages per request (0: the server's default); every page is listed")
		},
		run: func(e *env, fs *flag.FlagSet, args []string) error {
			if err := exactly(0, args, "no positional arguments"); err != nil {
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

func parseTime(s string) (time.Time, error) {
	if s == "" {
		return time.Now(), nil
	}
	return time.Parse(time.RFC3339, s)
}
