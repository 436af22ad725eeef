package cli

import (
	"flag"

	"google.golang.org/protobuf/proto"

	"github.com/mvm-exchange/mvm/client/mvmclient"
	mvmv1 "github.com/mvm-exchange/mvm/proto/mvm/v1"
)

// withdrawCmd withdraws a package.
type withdrawCmd struct{ reason string }

func (c *withdrawCmd) register(fs *flag.FlagSet) {
	fs.StringVar(&c.reason, "reason", "", "why (required)")
}

func (c *withdrawCmd) message(id string) (proto.Message, error) {
	return &mvmv1.Withdrawal{Header: mvmclient.NewHeader(), PackageId: id, Reason: c.reason}, required("reason", c.reason)
}
