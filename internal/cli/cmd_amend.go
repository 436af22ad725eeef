package cli

import (
	"context"
	"flag"
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/mvm-exchange/mvm/client/mvmclient"
	"github.com/mvm-exchange/mvm/internal/agreement"
)

// amendCmd proposes, co-signs and submits an amendment (amend.go).
// Amendments need every party's signature over the same payload bytes, so
// they travel as a file: one party proposes (and signs), the others sign,
// anyone submits.
type amendCmd struct {
	out                         outFlag
	title                       string
	ack, report, evidence       time.Duration
	rulingQuorum, witnessQuorum int
	yes                         bool
	statePath, receipt          string
	newKey                      string
	evidenceNeedsFiles          optionalBool
}

func (c *amendCmd) register(fs *flag.FlagSet) {
	c.out.register(fs, "propose: the amendment file to write")
	fs.StringVar(&c.title, "title", "", "propose: new title")
	fs.DurationVar(&c.ack, "acknowledge", 0, "propose: new acknowledgement deadline")
	fs.DurationVar(&c.report, "action-report", 0, "propose: new action report deadline")
	fs.DurationVar(&c.evidence, "evidence", 0, "propose: new evidence deadline")
	fs.IntVar(&c.rulingQuorum, "ruling-quorum", 0, "propose: new ruling quorum")
	fs.IntVar(&c.witnessQuorum, "witness-quorum", -1, "propose: new witness quorum")
	fs.Var(&c.evidenceNeedsFiles, "evidence-needs-files", "propose: the evidence deadline is met only by a submission naming a stored file (=false: by evidence digests too, the old rule)")
	fs.StringVar(&c.newKey, "new-encryption-key", "", "propose: rotate your party's encryption key: write a new decryption key to `FILE` (mode 0600, must not exist) and publish its public key; keep the old key to read older packages")
	fs.BoolVar(&c.yes, "yes", false, "sign: sign the changes shown")
	stateFlag(fs, &c.statePath)
	receiptFlag(fs, &c.receipt)
}

func (c *amendCmd) run(e *env, args []string) error {
	if len(args) == 0 {
		return usagef("want propose, sign FILE or submit FILE")
	}
	switch args[0] {
	case "propose":
		if err := exactly(1, args, "'propose' and flags"); err != nil {
			return err
		}
		if err := c.out.required(); err != nil {
			return err
		}
		return e.withClient(func(ctx context.Context, cl *mvmclient.Client) error {
			return c.propose(ctx, e, cl)
		})
	case "sign":
		if err := exactly(2, args, "'sign FILE'"); err != nil {
			return err
		}
		return e.withClient(func(ctx context.Context, cl *mvmclient.Client) error {
			return amendSign(ctx, e, cl, args[1], c.statePath, c.yes)
		})
	case "submit":
		if err := exactly(2, args, "'submit FILE'"); err != nil {
			return err
		}
		return c.submit(e, args[1])
	}
	return usagef("unknown amend step %q (want propose, sign or submit)", args[0])
}

// submit appends a proposal every party signed. It is refused here,
// before anything is sent, if a party has not signed yet: the server
// would refuse it too, but the proposer should learn whom to ask.
func (c *amendCmd) submit(e *env, path string) error {
	raw, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	cl, err := e.dial()
	if err != nil {
		return err
	}
	defer cl.Close()
	env, proposed, err := readProposal(path, raw)
	if err != nil {
		return err
	}
	ctx, cancel := e.context()
	cur, _, err := e.agreementInForce(ctx, cl, c.statePath)
	cancel()
	if err != nil {
		return err
	}
	if _, err := agreement.VerifyAllSigned(env, time.Now(), cur, proposed); err != nil {
		return fmt.Errorf("%s is %w; nothing sent", path, err)
	}
	return e.appendSealed(c.receipt, cl, raw, path, "amendment")
}

// optionalBool is a boolean flag that knows whether it was given: an
// amendment changes only what its flags name.
type optionalBool struct{ set, value bool }

func (b *optionalBool) Set(v string) error {
	value, err := strconv.ParseBool(v)
	if err != nil {
		return err
	}
	b.set, b.value = true, value
	return nil
}

// String is "" until the flag is given.
func (b *optionalBool) String() string {
	if b == nil || !b.set {
		return ""
	}
	return strconv.FormatBool(b.value)
}

// IsBoolFlag lets --flag mean --flag=true.
func (b *optionalBool) IsBoolFlag() bool { return true }
