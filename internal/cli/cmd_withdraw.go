package cli

import (
	"flag"

	"google.golang.org/protobuf/proto"

	"github.com/mvm-exchange/mvm/client/mvmclient"
	mvmv1 "github.com/mvm-exchange/mvm/proto/mvm/v1"
)

// withdrawCmd withdraws a package.
type withdrawCmd struct {
	reason  string
	receipt string
}

func (*withdrawCmd) spec() spec {
	return spec{name: "withdraw", args: "ID --reason TEXT", summary: "withdraw a package (submitter)"}
}

func (c *withdrawCmd) register(fs *flag.FlagSet) {
	fs.StringVar(&c.reason, "reason", "", "why (required)")
	receiptFlag(fs, &c.receipt)
}

func (c *withdrawCmd) run(e *env, args []string) error {
	return e.appendAbout(args, c.receipt, func(id string) (proto.Message, error) {
		return &mvmv1.Withdrawal{Header: mvmclient.NewHeader(), PackageId: id, Reason: c.reason}, required("reason", c.reason)
	})
}
