package cli

import (
	"context"
	"flag"

	"github.com/mvm-exchange/mvm/client/mvmclient"
	mvmv1 "github.com/mvm-exchange/mvm/proto/mvm/v1"
)

// evidenceCmd: evidence ID --file F... uploads files and logs the signed
// submission naming them; evidence get ID --out DIR downloads them,
// verified against the log; evidence list ID lists them from the log.
type evidenceCmd struct {
	files    stringList
	evidence stringList
	note     string
	out      string
	state    string
}

const evidenceArgs = "ID --file PATH [--file PATH...] [--evidence SHA256...] [--note TEXT]\n       evidence get ID --out DIR\n       evidence list ID"

func (c *evidenceCmd) register(fs *flag.FlagSet) {
	fs.Var(&c.files, "file", "evidence `PATH` to upload and name in the submission (repeatable)")
	fs.Var(&c.evidence, "evidence", "`SHA256` hex digest of an evidence file held elsewhere (repeatable)")
	fs.StringVar(&c.note, "note", "", "note")
	fs.StringVar(&c.out, "out", "", "get: the `DIR`ectory to write the files in (made if missing)")
	stateFlag(fs, &c.state)
	receiptFlag(fs)
}

func (c *evidenceCmd) run(e *env, fs *flag.FlagSet, args []string) error {
	if len(args) == 2 && (args[0] == "get" || args[0] == "list") {
		if len(c.files) > 0 || len(c.evidence) > 0 || c.note != "" {
			return usagef("evidence %s: --file, --evidence and --note are for submitting", args[0])
		}
		if args[0] == "get" && c.out == "" {
			return usagef("evidence get: --out DIR is required")
		}
		if args[0] == "list" && c.out != "" {
			return usagef("evidence list: --out is for get")
		}
		return e.withClient(func(ctx context.Context, cl *mvmclient.Client) error {
			v, err := e.verifiedPackage(ctx, cl, args[1], c.state)
			if err != nil {
				return err
			}
			if args[0] == "list" {
				e.listEvidence(v)
				return nil
			}
			return e.getEvidence(ctx, cl, v, c.out)
		})
	}
	if err := exactly(1, args, "the package ID (or get ID, list ID)"); err != nil {
		return err
	}
	if c.out != "" {
		return usagef("evidence: --out is for evidence get")
	}
	digests, err := c.evidence.digests()
	if err != nil {
		return err
	}
	return e.submitEvidence(func(cl *mvmclient.Client, m *mvmv1.EvidenceSubmission) error {
		env, err := cl.Seal(m)
		if err != nil {
			return err
		}
		return e.appendSealed(fs, cl, env, args[0], "evidence")
	}, args[0], c.files, digests, c.note)
}

func init() {
	c := &evidenceCmd{}
	register(&command{name: "evidence", args: evidenceArgs, longRunning: true,
		summary: "upload evidence files and log the signed submission (responder); get or list a package's files, verified",
		flags:   c.register, run: c.run})
}
