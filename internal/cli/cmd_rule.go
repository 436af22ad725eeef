package cli

import (
	"flag"

	"google.golang.org/protobuf/proto"

	"github.com/mvm-exchange/mvm/client/mvmclient"
	mvmv1 "github.com/mvm-exchange/mvm/proto/mvm/v1"
)

// ruleCmd signs a mediator's ruling on a package's open dispute.
type ruleCmd struct{ decision, dispute string }

func (c *ruleCmd) register(fs *flag.FlagSet) {
	fs.StringVar(&c.decision, "decision", "", "the decision; mediators sign the same text to reach the quorum (required)")
	fs.StringVar(&c.dispute, "dispute", "", "message id of the dispute (default: the open one)")
}

func (c *ruleCmd) message(id string) (proto.Message, error) {
	return &mvmv1.Ruling{Header: mvmclient.NewHeader(), PackageId: id, DisputeId: c.dispute, Decision: c.decision}, required("decision", c.decision)
}
