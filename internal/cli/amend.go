package cli

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/mvm-exchange/mvm/client/mvmclient"
	"github.com/mvm-exchange/mvm/internal/agreement"
	"github.com/mvm-exchange/mvm/internal/atomicfile"
	"github.com/mvm-exchange/mvm/internal/audit"
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
	var statePath, receipt string
	register(&registered{
		name: "amend", args: "propose --out FILE [changes] | sign FILE [--yes] | submit FILE [--state FILE]",
		summary: "amend the agreement: propose and sign a change, co-sign it, submit it once every party signed",
		flags: func(fs *flag.FlagSet) {
			fs.StringVar(&out, "out", "", "propose: the amendment file to write")
			fs.StringVar(&title, "title", "", "propose: new title")
			fs.DurationVar(&ack, "acknowledge", 0, "propose: new acknowledgement deadline")
			fs.DurationVar(&report, "action-report", 0, "propose: new action report deadline")
			fs.DurationVar(&evidence, "evidence", 0, "propose: new evidence deadline")
			fs.IntVar(&rulingQuorum, "ruling-quorum", 0, "propose: new ruling quorum")
			fs.IntVar(&witnessQuorum, "witness-quorum", -1, "propose: new witness quorum")
			fs.BoolVar(&yes, "yes", false, "sign: sign the changes shown")
			stateFlag(fs, &statePath)
			receiptFlag(fs, &receipt)
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
					cur, ver, err := e.agreementInForce(ctx, c, statePath)
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
					proposed, err := agreement.Parse(next, 0)
					if err != nil {
						return fmt.Errorf("the proposed agreement is not valid, nothing written: %w", err)
					}
					s := c.Signer()
					s.EmbedCertificate = true
					env, err := envelope.Seal(next, s)
					if err != nil {
						return err
					}
					if err := atomicfile.WriteFile(out, env, 0o600); err != nil {
						return err
					}
					e.printf("proposed amendment of the agreement at index %d (verified against checkpoint size %d), signed by %s: %s\n",
						cur.Index, ver.Checkpoint.Size, c.ID, out)
					printChanges(e.stdout, agreement.Diff(cur, proposed))
					return nil
				})
			case "sign":
				if err := exactly(2, args, "'sign FILE'"); err != nil {
					return err
				}
				return e.withClient(func(ctx context.Context, c *mvmclient.Client) error {
					return amendSign(ctx, e, c, args[1], statePath, yes)
				})
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
				// Refused here, before anything is sent, if a party has not
				// signed yet: the server would refuse it too, but the
				// proposer should learn whom to ask.
				env, proposed, err := readProposal(args[1], raw)
				if err != nil {
					return err
				}
				ctx, cancel := e.context()
				cur, _, err := e.agreementInForce(ctx, c, statePath)
				cancel()
				if err != nil {
					return err
				}
				if _, err := agreement.VerifyAllSigned(env, time.Now(), cur, proposed); err != nil {
					return fmt.Errorf("%s is %w; nothing sent", args[1], err)
				}
				return e.appendSealed(receipt, c, raw, args[1], "amendment")
			}
			return usagef("unknown amend step %q (want propose, sign or submit)", args[0])
		},
	})
}

// agreementInForce derives the agreement in force from the log, never from
// GetAgreement's answer alone: the pinned genesis and every amendment after
// it, verified by the auditor's code against a checkpoint signed by the
// pinned log key (audit.Options.AgreementsOnly).
func (e *env) agreementInForce(ctx context.Context, c *mvmclient.Client, statePath string) (*agreement.Agreement, *audit.Verified, error) {
	ver, err := e.verifiedLog(ctx, c, statePath, nil, audit.Options{AgreementsOnly: true})
	if err != nil {
		return nil, nil, err
	}
	return ver.Agreement, ver, nil
}

// readProposal parses an amendment file.
func readProposal(path string, raw []byte) (*mvmv1.Envelope, *agreement.Agreement, error) {
	env, err := envelope.Parse(raw)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	if env.PayloadType != message.TypeAgreement {
		return nil, nil, fmt.Errorf("%s holds a %s, not an agreement", path, env.PayloadType)
	}
	p, err := message.Decode(env.PayloadType, env.Payload)
	if err == nil {
		err = message.Validate(p)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	ap := p.(*mvmv1.Agreement)
	proposed, err := agreement.Parse(ap, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	return env, proposed, nil
}

// amendSign shows a proposal as a diff against the agreement in force,
// derived from the log, and signs it with yes. Consent must be informed:
// what is shown is what the payload bytes of the file say, compared with
// what every party already agreed to.
func amendSign(ctx context.Context, e *env, c *mvmclient.Client, path, statePath string, yes bool) error {
	raw, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	env, proposed, err := readProposal(path, raw)
	if err != nil {
		return err
	}
	cur, ver, err := e.agreementInForce(ctx, c, statePath)
	if err != nil {
		return err
	}
	amends := proposed.Proto.GetAmendsIndex()
	if amends != cur.Index {
		return fmt.Errorf("%s amends the agreement at index %d, but the agreement in force (verified from the log) is at index %d: ask for a new proposal", path, amends, cur.Index)
	}
	// Signatures already on the file must be good ones by parties of
	// either agreement: a forged or foreign signature is refused, not
	// counted.
	ids, missing, err := agreement.VerifySigned(env, time.Now(), cur, proposed)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	signers := make([]string, 0, len(ids))
	for _, id := range ids {
		signers = append(signers, id.String())
	}
	e.printf("amends: the agreement at index %d (verified against checkpoint size %d)\n", amends, ver.Checkpoint.Size)
	printChanges(e.stdout, agreement.Diff(cur, proposed))
	e.printf("signed by: %s; missing: %s\n", dash(strings.Join(signers, ", ")), dash(strings.Join(missing, ", ")))
	if !yes {
		e.printf("review the changes above; to sign them: amend sign %s --yes\n", path)
		return nil
	}
	s := c.Signer()
	s.EmbedCertificate = true
	sig, err := envelope.Sign(env.PayloadType, env.Payload, s)
	if err != nil {
		return err
	}
	for _, old := range env.Signatures {
		if old.Keyid == sig.Keyid {
			return fmt.Errorf("%s already signed %s", c.ID, path)
		}
	}
	env.Signatures = append(env.Signatures, sig)
	b, err := proto.Marshal(env)
	if err != nil {
		return err
	}
	if err := atomicfile.WriteFile(path, b, 0o600); err != nil {
		return err
	}
	e.printf("signed %s as %s (%d signatures)\n", path, c.ID, len(env.Signatures))
	return nil
}

// printChanges lists an amendment's changes, security-relevant ones first
// counted and marked with "!".
func printChanges(w io.Writer, cs []agreement.Change) {
	if len(cs) == 0 {
		fmt.Fprintln(w, "changes: none")
		return
	}
	fmt.Fprintf(w, "changes: %d, security-relevant: %d (marked !)\n", len(cs), agreement.SecurityChanges(cs))
	for _, c := range cs {
		fmt.Fprintf(w, "  %s\n", c)
	}
}
