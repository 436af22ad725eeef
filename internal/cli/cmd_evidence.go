package cli

import (
	"flag"

	"google.golang.org/protobuf/proto"

	"github.com/mvm-exchange/mvm/client/mvmclient"
	mvmv1 "github.com/mvm-exchange/mvm/proto/mvm/v1"
)

// evidenceCmd logs the digests of evidence for a reported action.
type evidenceCmd struct {
	evidence stringList
	note     string
	receipt  string
}

func (*evidenceCmd) spec() spec {
	return spec{name: "evidence", args: "ID --evidence SHA256 [--evidence SHA256...]", summary: "submit evidence for a reported action (responder)"}
}

func (c *evidenceCmd) register(fs *flag.FlagSet) {
	evidenceFlag(fs, &c.evidence, ", required")
	fs.StringVar(&c.note, "note", "", "note")
	receiptFlag(fs, &c.receipt)
}

func (c *evidenceCmd) run(e *env, args []string) error {
	return e.appendAbout(args, c.receipt, func(id string) (proto.Message, error) {
		d, err := c.evidence.digests()
		if err == nil && len(d) == 0 {
			err = usagef("--evidence is required")
		}
		return &mvmv1.EvidenceSubmission{Header: mvmclient.NewHeader(), PackageId: id, EvidenceSha256: d, Note: c.note}, err
	})
}
