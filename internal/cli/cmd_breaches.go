package cli

import (
	"context"
	"flag"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/mvm-exchange/mvm/client/mvmclient"
	"github.com/mvm-exchange/mvm/internal/workflow"
	mvmv1 "github.com/mvm-exchange/mvm/proto/mvm/v1"
)

// breachesCmd lists the deadlines missed, as the server computes them or,
// with --verify, as the client derives them from the log (verified.go).
type breachesCmd struct {
	asOf, party, statePath string
	verify                 bool
	pageSize               uint
	keys                   stringList
}

func (c *breachesCmd) register(fs *flag.FlagSet) {
	fs.StringVar(&c.asOf, "as-of", "", "as of this `TIME`: RFC 3339, or a date meaning 00:00 UTC (default now)")
	fs.StringVar(&c.party, "party", "", "only this party's breaches")
	fs.UintVar(&c.pageSize, "page-size", 0, "breaches per request (0: the server's default); every page is listed")
	fs.BoolVar(&c.verify, "verify", false, "derive the breaches on the client by auditing the whole log, and check the server's answer against them")
	stateFlag(fs, &c.statePath)
	keyFlag(fs, &c.keys)
}

func (c *breachesCmd) run(e *env, args []string) error {
	if err := exactly(0, args, "no positional arguments"); err != nil {
		return err
	}
	if err := e.useKeys(c.keys); err != nil {
		return err
	}
	req := &mvmv1.GetBreachesRequest{Party: c.party, PageSize: uint32(min(c.pageSize, 1<<31))}
	if c.asOf != "" {
		t, err := parseTime(c.asOf)
		if err != nil {
			return usagef("--as-of: %v", err)
		}
		req.AsOf = timestamppb.New(t)
	}
	if c.verify {
		if req.AsOf == nil {
			req.AsOf = timestamppb.Now()
		}
		return e.withClient(func(ctx context.Context, cl *mvmclient.Client) error {
			return e.verifiedBreaches(ctx, cl, req, c.statePath)
		})
	}
	return e.withClient(func(ctx context.Context, cl *mvmclient.Client) error {
		resp, err := cl.Breaches(ctx, req)
		if err != nil {
			return err
		}
		bs := make([]workflow.Breach, len(resp.Breaches))
		for i, b := range resp.Breaches {
			bs[i] = workflow.Breach{PackageID: b.PackageId, Party: b.Party, Deadline: b.Deadline,
				Due: b.Due.AsTime(), Late: time.Duration(b.LateSeconds) * time.Second}
		}
		return e.printBreaches(ctx, cl, resp.AsOf.AsTime(), bs)
	})
}
