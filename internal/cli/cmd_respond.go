package cli

import (
	"flag"

	"google.golang.org/protobuf/proto"

	"github.com/mvm-exchange/mvm/client/mvmclient"
	mvmv1 "github.com/mvm-exchange/mvm/proto/mvm/v1"
)

// respondCmd answers a request for information.
type respondCmd struct {
	answer, request string
	evidence        stringList
}

func (c *respondCmd) register(fs *flag.FlagSet) {
	fs.StringVar(&c.answer, "answer", "", "the answer (required)")
	fs.StringVar(&c.request, "request", "", "message id of the request answered (default: the oldest open one)")
	evidenceFlag(fs, &c.evidence, "")
}

func (c *respondCmd) message(id string) (proto.Message, error) {
	d, err := c.evidence.digests()
	if err == nil {
		err = required("answer", c.answer)
	}
	return &mvmv1.InformationResponse{Header: mvmclient.NewHeader(), PackageId: id, RequestId: c.request, Answer: c.answer, EvidenceSha256: d}, err
}
