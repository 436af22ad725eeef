package cli

import (
	"flag"

	"google.golang.org/protobuf/proto"

	"github.com/mvm-exchange/mvm/client/mvmclient"
	mvmv1 "github.com/mvm-exchange/mvm/proto/mvm/v1"
)

// ackCmd acknowledges a package.
type ackCmd struct{ note string }

func (c *ackCmd) register(fs *flag.FlagSet) {
	fs.StringVar(&c.note, "note", "", "optional note")
}

func (c *ackCmd) message(id string) (proto.Message, error) {
	return &mvmv1.Acknowledgement{Header: mvmclient.NewHeader(), PackageId: id, Note: c.note}, nil
}
