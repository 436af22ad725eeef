package cli

import (
	"context"
	"flag"
	"fmt"
	"os"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/mvm-exchange/mvm/client/mvmclient"
	"github.com/mvm-exchange/mvm/internal/agreement"
	"github.com/mvm-exchange/mvm/internal/envelope"
	"github.com/mvm-exchange/mvm/internal/message"
	mvmv1 "github.com/mvm-exchange/mvm/proto/mvm/v1"
)

// Amendments need every party's signature over the same payload bytes, so
// they travel as a file: one party proposes (and signs), the others sign,
// anyone submits.
func init() {
	var out, title string
	var ack, report, evidence time.Duration
	var rulingQuorum, witnessQuorum int
	var yes bool
	register(&command{
		name: "amend", args: "propose --out FILE [changes] | sign FILE | submit FILE",
		summary: "amend the agreement: propose and sign a change, co-sign it, submit it once every party signed",
		flags: func(fs *flag.FlagSet) {
			fs.StringVar(&out, "out", "", "propose: the amendment file to write")
			fs.StringVar(&title, "title", "", "propose: new title")
			fs.DurationVar(&ack, "acknowledge", 0, "propose: new acknowledgement deadline")
			fs.DurationVar(&report, "action-report", 0, "propose: new action report deadline")
			fs.DurationVar(&evidence, "evidence", 0, "propose: new evidence deadline")
			fs.IntVar(&rulingQuorum, "ruling-quorum", 0, "propose: new ruling quorum")
			fs.IntVar(&witnessQuorum, "witness-quorum", -1, "propose: new witness quorum")
			fs.BoolVar(&yes, "yes", false, "sign: sign the agreement shown")
			receiptFlag(fs)
		},
		run: func(e *env, fs *flag.FlagSet, args []string) error {
			if len(args) == 0 {
				return usagef("want propose, sign FILE or submit FILE")
			}
			switch args[0] {
			case "propose":
				if err := exactly(1, args, "'propose' and flags"); err != nil {
					return err
				}
				if out == "" {
					return usagef("--out FILE is required")
				}
				return e.withClient(func(ctx context.Context, c *mvmclient.Client) error {
					resp, err := c.API.GetAgreement(ctx, &mvmv1.GetAgreementRequest{})
					if err != nil {
						return err
					}
					cur, _, err := decodeAgreement(resp.Leaf)
					if err != nil {
						return err
					}
					next := proto.Clone(cur.Proto).(*mvmv1.Agreement)
					next.Header = mvmclient.NewHeader()
					next.AmendsIndex = cur.Index
					if title != "" {
						next.Title = title
					}
					if next.Deadlines == nil {
						next.Deadlines = &mvmv1.Deadlines{}
					}
					for _, d := range []struct {
						v   time.Duration
						dst **durationpb.Duration
					}{{ack, &next.Deadlines.Acknowledge}, {report, &next.Deadlines.ActionReport}, {evidence, &next.Deadlines.Evidence}} {
						if d.v > 0 {
							*d.dst = durationpb.New(d.v)
						}
					}
					if rulingQuorum > 0 {
						next.RulingQuorum = uint32(rulingQuorum)
					}
					if witnessQuorum >= 0 {
						next.WitnessQuorum = uint32(witnessQuorum)
					}
					s := c.Signer()
					s.EmbedCertificate = true
					env, err := envelope.Seal(next, s)
					if err != nil {
						return err
					}
					if err := writeFileAtomic(out, env); err != nil {
						return err
					}
					e.printf("proposed amendment of the agreement at index %d, signed by %s: %s\n", cur.Index, c.ID, out)
					return nil
				})
			case "sign":
				if err := exactly(2, args, "'sign FILE'"); err != nil {
					return err
				}
				c, err := e.dial()
				if err != nil {
					return err
				}
				defer c.Close()
				raw, err := os.ReadFile(args[1])
				if err != nil {
					return err
				}
				env, err := envelope.Parse(raw)
				if err != nil {
					return err
				}
				if env.PayloadType != message.TypeAgreement {
					return fmt.Errorf("%s holds a %s, not an agreement", args[1], env.PayloadType)
				}
				// Consent must be informed: show exactly what would be signed
				// (the payload bytes in the file), and sign only with --yes.
				p, err := message.Decode(env.PayloadType, env.Payload)
				if err != nil {
					return err
				}
				proposed, err := agreement.Parse(p.(*mvmv1.Agreement), 0)
				if err != nil {
					return fmt.Errorf("%s: %w", args[1], err)
				}
				var signers []string
				for _, s := range env.Signatures {
					signers = append(signers, s.Keyid[:16])
				}
				printAgreement(e.stdout, proposed, signers)
				if !yes {
					return fmt.Errorf("review the proposed agreement above, then sign it with --yes")
				}
				s := c.Signer()
				s.EmbedCertificate = true
				sig, err := envelope.Sign(env.PayloadType, env.Payload, s)
				if err != nil {
					return err
				}
				for _, old := range env.Signatures {
					if old.Keyid == sig.Keyid {
						return fmt.Errorf("%s already signed %s", c.ID, args[1])
					}
				}
				env.Signatures = append(env.Signatures, sig)
				b, err := proto.Marshal(env)
				if err != nil {
					return err
				}
				if err := writeFileAtomic(args[1], b); err != nil {
					return err
				}
				e.printf("signed %s as %s (%d signatures)\n", args[1], c.ID, len(env.Signatures))
				return nil
			case "submit":
				if err := exactly(2, args, "'submit FILE'"); err != nil {
					return err
				}
				raw, err := os.ReadFile(args[1])
				if err != nil {
					return err
				}
				c, err := e.dial()
				if err != nil {
					return err
				}
				defer c.Close()
				return e.appendSealed(fs, c, raw, args[1], "amendment")
			}
			return usagef("unknown amend step %q (want propose, sign or submit)", args[0])
		},
	})
}
