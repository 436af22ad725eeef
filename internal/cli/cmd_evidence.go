package cli

import (
	"context"
	"flag"

	"google.golang.org/protobuf/proto"

	"github.com/mvm-exchange/mvm/client/mvmclient"
)

// evidenceCmd: evidence ID --file F... uploads the files and logs the
// signed submission naming them (evidence_upload.go); evidence get ID
// --out DIR downloads them, each verified against the log; evidence list
// ID lists them from the verified log (evidence_get.go); evidence get ID
// --name NAME picks one file, and --range START-END writes part of it
// (evidence_range.go).
type evidenceCmd struct {
	files      stringList
	evidence   stringList
	note       string
	receipt    string
	out        string
	state      string
	name       string
	rng        rangeFlag
	unverified bool
}

func (c *evidenceCmd) register(fs *flag.FlagSet) {
	fs.Var(&c.files, "file", "evidence `PATH` to upload and name in the submission (repeatable)")
	evidenceFlag(fs, &c.evidence, "; a file held elsewhere")
	fs.StringVar(&c.note, "note", "", "note")
	receiptFlag(fs, &c.receipt)
	fs.StringVar(&c.out, "out", "", "get: the `DIR`ectory to write the files in (made if missing); with --range, the FILE to write")
	fs.StringVar(&c.name, "name", "", "get: only the file of this `NAME` (as logged or as written, or its sha256 in hex)")
	fs.Var(&c.rng, "range", "get --name: write only the plaintext bytes `START-END` (from 0, END included; START- to the end) to --out FILE; a sealed file's chunks are opened, a clear one needs --unverified")
	fs.BoolVar(&c.unverified, "unverified", false, "get --range of a clear (not sealed) file: write the server's bytes, which cannot be checked against the whole file's digest")
	stateFlag(fs, &c.state)
}

func (c *evidenceCmd) run(e *env, args []string) error {
	if len(args) == 2 && (args[0] == "get" || args[0] == "list") {
		return c.read(e, args[0], args[1])
	}
	if err := exactly(1, args, "the package ID (or get ID, list ID)"); err != nil {
		return err
	}
	if c.out != "" || c.name != "" || c.rng.set || c.unverified {
		return usagef("evidence: --out, --name, --range and --unverified are for evidence get")
	}
	digests, err := c.evidence.digests()
	if err != nil {
		return err
	}
	return e.submitEvidence(func(cl *mvmclient.Client, m proto.Message) error {
		env, err := cl.Seal(m)
		if err != nil {
			return err
		}
		return e.appendSealed(c.receipt, cl, env, args[0], "evidence")
	}, args[0], c.files, digests, c.note)
}

// read runs evidence get and evidence list.
func (c *evidenceCmd) read(e *env, sub, id string) error {
	switch {
	case len(c.files) > 0 || len(c.evidence) > 0 || c.note != "" || c.receipt != "":
		return usagef("evidence %s: --file, --evidence, --note and --receipt are for submitting", sub)
	case sub == "get" && c.out == "":
		return usagef("evidence get: --out DIR is required")
	case sub == "list" && (c.out != "" || c.name != "" || c.rng.set || c.unverified):
		return usagef("evidence list: --out, --name, --range and --unverified are for get")
	case c.rng.set && c.name == "":
		return usagef("evidence get --range: give --name NAME, the file to read a range of")
	case c.unverified && !c.rng.set:
		return usagef("evidence get: --unverified goes with --range only: a whole file is always verified")
	}
	return e.withClient(func(ctx context.Context, cl *mvmclient.Client) error {
		v, err := e.verifiedPackage(ctx, cl, id, c.state)
		if err != nil {
			return err
		}
		if sub == "list" {
			e.listEvidence(v)
			return nil
		}
		return e.getEvidence(ctx, cl, v, c)
	})
}
