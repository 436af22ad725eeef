package cli

import (
	"flag"

	"google.golang.org/protobuf/proto"

	"github.com/mvm-exchange/mvm/client/mvmclient"
	mvmv1 "github.com/mvm-exchange/mvm/proto/mvm/v1"
)

// rfiCmd asks the submitter a question about a package.
type rfiCmd struct{ question string }

func (c *rfiCmd) register(fs *flag.FlagSet) {
	fs.StringVar(&c.question, "question", "", "the question (required)")
}

func (c *rfiCmd) message(id string) (proto.Message, error) {
	return &mvmv1.RequestForInformation{Header: mvmclient.NewHeader(), PackageId: id, Question: c.question}, required("question", c.question)
}
