package cli

import (
	"flag"

	"google.golang.org/protobuf/proto"

	"github.com/mvm-exchange/mvm/client/mvmclient"
	mvmv1 "github.com/mvm-exchange/mvm/proto/mvm/v1"
)

// disputeCmd disputes a package or a finding.
type disputeCmd struct{ reason, finding string }

func (c *disputeCmd) register(fs *flag.FlagSet) {
	fs.StringVar(&c.reason, "reason", "", "why (required)")
	fs.StringVar(&c.finding, "finding", "", "message id of the disputed finding (default: the package)")
}

func (c *disputeCmd) message(id string) (proto.Message, error) {
	return &mvmv1.Dispute{Header: mvmclient.NewHeader(), PackageId: id, FindingId: c.finding, Reason: c.reason}, required("reason", c.reason)
}
