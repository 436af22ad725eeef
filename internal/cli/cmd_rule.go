package cli

import (
	"flag"

	"google.golang.org/protobuf/proto"

	"github.com/mvm-exchange/mvm/client/mvmclient"
	mvmv1 "github.com/mvm-exchange/mvm/proto/mvm/v1"
)

// ruleCmd signs a mediator's ruling on a package's open dispute.
type ruleCmd struct {
	decision, dispute string
	receipt           string
}

func (*ruleCmd) spec() spec {
	return spec{name: "rule", args: "ID --decision TEXT [--dispute DISPUTE-ID]", summary: "sign a ruling on the package's open dispute (mediator)"}
}

func (c *ruleCmd) register(fs *flag.FlagSet) {
	fs.StringVar(&c.decision, "decision", "", "the decision; mediators sign the same text to reach the quorum (required)")
	fs.StringVar(&c.dispute, "dispute", "", "message id of the dispute (default: the open one)")
	receiptFlag(fs, &c.receipt)
}

func (c *ruleCmd) run(e *env, args []string) error {
	return e.appendAbout(args, c.receipt, func(id string) (proto.Message, error) {
		return &mvmv1.Ruling{Header: mvmclient.NewHeader(), PackageId: id, DisputeId: c.dispute, Decision: c.decision}, required("decision", c.decision)
	})
}
