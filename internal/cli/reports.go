package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/mvm-exchange/mvm/client/mvmclient"
	"github.com/mvm-exchange/mvm/internal/agreement"
	"github.com/mvm-exchange/mvm/internal/entry"
	"github.com/mvm-exchange/mvm/internal/envelope"
	"github.com/mvm-exchange/mvm/internal/message"
	"github.com/mvm-exchange/mvm/internal/workflow"
	mvmv1 "github.com/mvm-exchange/mvm/proto/mvm/v1"
)

func init() {
	var asOf, party, breachState string
	var verify bool
	var pageSize uint
	register(&registered{
		name: "breaches", args: "[--as-of TIME|DATE] [--party P] [--page-size N] [--verify [--state FILE]]",
		summary: "list every deadline missed as of a time, computed from the log and the agreement",
		flags: func(fs *flag.FlagSet) {
			fs.StringVar(&asOf, "as-of", "", "as of this `TIME`: RFC 3339, or a date meaning 00:00 UTC (default now)")
			fs.StringVar(&party, "party", "", "only this party's breaches")
			fs.UintVar(&pageSize, "page-size", 0, "breaches per request (0: the server's default); every page is listed")
			fs.BoolVar(&verify, "verify", false, "derive the breaches on the client by auditing the whole log, and check the server's answer against them")
			stateFlag(fs, &breachState)
		},
		run: func(e *env, fs *flag.FlagSet, args []string) error {
			if err := exactly(0, args, "no positional arguments"); err != nil {
				return err
			}
			req := &mvmv1.GetBreachesRequest{Party: party, PageSize: uint32(min(pageSize, 1<<31))}
			if asOf != "" {
				t, err := parseTime(asOf)
				if err != nil {
					return usagef("--as-of: %v", err)
				}
				req.AsOf = timestamppb.New(t)
			}
			if verify {
				if req.AsOf == nil {
					req.AsOf = timestamppb.Now()
				}
				return e.withClient(func(ctx context.Context, c *mvmclient.Client) error {
					return e.verifiedBreaches(ctx, c, req, breachState)
				})
			}
			return e.withClient(func(ctx context.Context, c *mvmclient.Client) error {
				resp, err := c.Breaches(ctx, req)
				if err != nil {
					return err
				}
				bs := make([]workflow.Breach, len(resp.Breaches))
				for i, b := range resp.Breaches {
					bs[i] = workflow.Breach{PackageID: b.PackageId, Party: b.Party, Deadline: b.Deadline,
						Due: b.Due.AsTime(), Late: time.Duration(b.LateSeconds) * time.Second}
				}
				return printBreaches(e.stdout, resp.AsOf.AsTime(), bs)
			})
		},
	})

	var agreementState string
	register(&registered{
		name: "agreement", args: "show [--state FILE]", summary: "print the agreement in force, derived from the log",
		flags: func(fs *flag.FlagSet) { stateFlag(fs, &agreementState) },
		run: func(e *env, fs *flag.FlagSet, args []string) error {
			if len(args) != 1 || args[0] != "show" {
				return usagef("want 'agreement show'")
			}
			return e.withClient(func(ctx context.Context, c *mvmclient.Client) error {
				// Derived from the log, as amend derives it: GetAgreement's
				// answer is not taken on its word.
				ag, ver, err := e.agreementInForce(ctx, c, agreementState)
				if err != nil {
					return err
				}
				printAgreement(e.stdout, ag, fmt.Sprintf("every party (verified from the log against checkpoint size %d)", ver.Checkpoint.Size))
				return nil
			})
		},
	})
	registerWatch()
}

func printBreaches(w io.Writer, asOf time.Time, bs []workflow.Breach) error {
	fmt.Fprintf(w, "breaches as of %s: %d\n", stamp(asOf), len(bs))
	if len(bs) == 0 {
		return nil
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "PACKAGE\tPARTY\tDEADLINE\tDUE\tLATE")
	for _, b := range bs {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", b.PackageID, b.Party, b.Deadline, stamp(b.Due), b.Late.Truncate(time.Second))
	}
	return tw.Flush()
}

// describeEntry renders one leaf as a line: index, time, type, author.
func describeEntry(index uint64, leaf []byte) string {
	o, err := entry.Open(leaf)
	switch {
	case errors.Is(err, entry.ErrLeaf):
		return fmt.Sprintf("#%d undecodable: %v", index, err)
	case errors.Is(err, entry.ErrEnvelope):
		return fmt.Sprintf("#%d %s undecodable envelope: %v", index, stamp(o.ReceivedAt()), err)
	case errors.Is(err, entry.ErrPayload):
		return fmt.Sprintf("#%d %s %s: %v", index, stamp(o.ReceivedAt()), o.Type, err)
	}
	// A payload that breaks a message rule (entry.ErrInvalid) is listed
	// as it reads; audit is what judges it.
	return fmt.Sprintf("#%d %s %s %s: %s", index, stamp(o.ReceivedAt()), workflow.ShortType(o.Type),
		message.PackageID(o.Payload), workflow.Describe(o.Payload))
}

func printAgreement(w io.Writer, ag *agreement.Agreement, signedBy string) {
	p := ag.Proto
	fmt.Fprintf(w, "agreement: %s\nindex: %d\n", p.Title, ag.Index)
	if ag.Index > 0 {
		fmt.Fprintf(w, "amends: %d\n", p.AmendsIndex)
	}
	fmt.Fprintf(w, "trust domain: %s\nlog origin: %s\nlog key: %s\n", ag.TrustDomain, ag.LogOrigin, ag.LogKey)
	fmt.Fprintf(w, "deadlines: acknowledge %s, action report %s after acknowledgement, evidence %s after report\n",
		ag.Deadlines.Acknowledge, ag.Deadlines.ActionReport, ag.Deadlines.Evidence)
	fmt.Fprintf(w, "ruling quorum: %d mediators\nwitness quorum: %d cosignatures\n", ag.RulingQuorum, ag.WitnessQuorum)
	fmt.Fprintf(w, "clock skew: at most %s between a message's signed time and its receipt\n", ag.ClockSkew)
	fmt.Fprintln(w, "parties:")
	for _, party := range ag.Parties() {
		fmt.Fprintf(w, "  %s (%s): %s", party.ID, party.Name, agreement.RoleName(party.Role))
		for _, ca := range party.CAs {
			fmt.Fprintf(w, ", CA %q sha256:%s", ca.Subject.CommonName, envelope.Fingerprint(ca.Raw)[:16])
		}
		fmt.Fprintln(w)
		for _, k := range party.CosignerKeys {
			fmt.Fprintf(w, "    cosigner key: %s\n", k)
		}
	}
	fmt.Fprintf(w, "signed by: %s\n", signedBy)
}
