package cli

import (
	"flag"

	"google.golang.org/protobuf/proto"

	"github.com/mvm-exchange/mvm/client/mvmclient"
	"github.com/mvm-exchange/mvm/internal/workflow"
	mvmv1 "github.com/mvm-exchange/mvm/proto/mvm/v1"
)

// findingCmd records a mediator's verification finding.
type findingCmd struct {
	verdict, reason string
	evidence        stringList
}

func (c *findingCmd) register(fs *flag.FlagSet) {
	fs.StringVar(&c.verdict, "verdict", "", "confirmed, inconclusive or contradicted (required)")
	fs.StringVar(&c.reason, "reason", "", "the reasons (required)")
	evidenceFlag(fs, &c.evidence, "")
}

func (c *findingCmd) message(id string) (proto.Message, error) {
	v, err := workflow.ParseVerdict(c.verdict)
	if err != nil {
		return nil, usagef("--verdict: %v", err)
	}
	d, err := c.evidence.digests()
	if err == nil {
		err = required("reason", c.reason)
	}
	return &mvmv1.VerificationFinding{Header: mvmclient.NewHeader(), PackageId: id, Verdict: v, Reason: c.reason, EvidenceSha256: d}, err
}
