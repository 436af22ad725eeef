package cli

import (
	"flag"

	"google.golang.org/protobuf/proto"

	"github.com/mvm-exchange/mvm/client/mvmclient"
	mvmv1 "github.com/mvm-exchange/mvm/proto/mvm/v1"
)

// rfiCmd asks the submitter a question about a package.
type rfiCmd struct {
	question string
	receipt  string
}

func (*rfiCmd) spec() spec {
	return spec{name: "rfi", args: "ID --question TEXT", summary: "request information on a package (responder)"}
}

func (c *rfiCmd) register(fs *flag.FlagSet) {
	fs.StringVar(&c.question, "question", "", "the question (required)")
	receiptFlag(fs, &c.receipt)
}

func (c *rfiCmd) run(e *env, args []string) error {
	return e.appendAbout(args, c.receipt, func(id string) (proto.Message, error) {
		return &mvmv1.RequestForInformation{Header: mvmclient.NewHeader(), PackageId: id, Question: c.question}, required("question", c.question)
	})
}
