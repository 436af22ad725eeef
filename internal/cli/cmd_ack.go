package cli

import (
	"flag"

	"google.golang.org/protobuf/proto"

	"github.com/mvm-exchange/mvm/client/mvmclient"
	mvmv1 "github.com/mvm-exchange/mvm/proto/mvm/v1"
)

// ackCmd acknowledges a package.
type ackCmd struct {
	note    string
	receipt string
}

func (*ackCmd) spec() spec {
	return spec{name: "ack", args: "ID [--note TEXT]", summary: "acknowledge a package (responder)"}
}

func (c *ackCmd) register(fs *flag.FlagSet) {
	fs.StringVar(&c.note, "note", "", "optional note")
	receiptFlag(fs, &c.receipt)
}

func (c *ackCmd) run(e *env, args []string) error {
	return e.appendAbout(args, c.receipt, func(id string) (proto.Message, error) {
		return &mvmv1.Acknowledgement{Header: mvmclient.NewHeader(), PackageId: id, Note: c.note}, nil
	})
}
