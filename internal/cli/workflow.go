package cli

import (
	"flag"

	"google.golang.org/protobuf/proto"

	"github.com/mvm-exchange/mvm/client/mvmclient"
	"github.com/mvm-exchange/mvm/internal/workflow"
	mvmv1 "github.com/mvm-exchange/mvm/proto/mvm/v1"
)

// packageCommand registers a command that appends one message about the
// package named by its single positional argument.
func packageCommand(name, args, summary string, flags func(fs *flag.FlagSet), build func(id string) (proto.Message, error)) {
	register(&command{
		name: name, args: "ID " + args, summary: summary,
		flags: func(fs *flag.FlagSet) {
			if flags != nil {
				flags(fs)
			}
			receiptFlag(fs)
		},
		run: func(e *env, fs *flag.FlagSet, pos []string) error {
			if err := exactly(1, pos, "the package ID"); err != nil {
				return err
			}
			m, err := build(pos[0])
			if err != nil {
				return err
			}
			return e.appendAndPrint(fs, m, pos[0])
		},
	})
}

func required(flagName, v string) error {
	if v == "" {
		return usagef("--%s is required", flagName)
	}
	return nil
}

func init() {
	var question string
	packageCommand("rfi", "--question TEXT", "request information on a package (responder)",
		func(fs *flag.FlagSet) { fs.StringVar(&question, "question", "", "the question (required)") },
		func(id string) (proto.Message, error) {
			return &mvmv1.RequestForInformation{Header: mvmclient.NewHeader(), PackageId: id, Question: question}, required("question", question)
		})

	var answer, request string
	var answerEvidence stringList
	packageCommand("respond", "--answer TEXT [--request RFI-ID]", "answer a request for information (submitter)",
		func(fs *flag.FlagSet) {
			fs.StringVar(&answer, "answer", "", "the answer (required)")
			fs.StringVar(&request, "request", "", "message id of the request answered (default: the oldest open one)")
			fs.Var(&answerEvidence, "evidence", "`SHA256` hex digest of an evidence file (repeatable)")
		},
		func(id string) (proto.Message, error) {
			d, err := answerEvidence.digests()
			if err == nil {
				err = required("answer", answer)
			}
			return &mvmv1.InformationResponse{Header: mvmclient.NewHeader(), PackageId: id, RequestId: request, Answer: answer, EvidenceSha256: d}, err
		})

	var reason string
	packageCommand("withdraw", "--reason TEXT", "withdraw a package (submitter)",
		func(fs *flag.FlagSet) { fs.StringVar(&reason, "reason", "", "why (required)") },
		func(id string) (proto.Message, error) {
			return &mvmv1.Withdrawal{Header: mvmclient.NewHeader(), PackageId: id, Reason: reason}, required("reason", reason)
		})

	var verdict, findingReason string
	var findingEvidence stringList
	packageCommand("finding", "--verdict confirmed|inconclusive|contradicted --reason TEXT", "record a verification finding (mediator)",
		func(fs *flag.FlagSet) {
			fs.StringVar(&verdict, "verdict", "", "confirmed, inconclusive or contradicted (required)")
			fs.StringVar(&findingReason, "reason", "", "the reasons (required)")
			fs.Var(&findingEvidence, "evidence", "`SHA256` hex digest of an evidence file (repeatable)")
		},
		func(id string) (proto.Message, error) {
			v, err := workflow.ParseVerdict(verdict)
			if err != nil {
				return nil, usagef("--verdict: %v", err)
			}
			d, err := findingEvidence.digests()
			if err == nil {
				err = required("reason", findingReason)
			}
			return &mvmv1.VerificationFinding{Header: mvmclient.NewHeader(), PackageId: id, Verdict: v, Reason: findingReason, EvidenceSha256: d}, err
		})

	var disputeReason, finding string
	packageCommand("dispute", "--reason TEXT [--finding FINDING-ID]", "dispute a package or a finding (submitter or responder)",
		func(fs *flag.FlagSet) {
			fs.StringVar(&disputeReason, "reason", "", "why (required)")
			fs.StringVar(&finding, "finding", "", "message id of the disputed finding (default: the package)")
		},
		func(id string) (proto.Message, error) {
			return &mvmv1.Dispute{Header: mvmclient.NewHeader(), PackageId: id, FindingId: finding, Reason: disputeReason}, required("reason", disputeReason)
		})

	var decision, dispute string
	packageCommand("rule", "--decision TEXT [--dispute DISPUTE-ID]", "sign a ruling on the package's open dispute (mediator)",
		func(fs *flag.FlagSet) {
			fs.StringVar(&decision, "decision", "", "the decision; mediators sign the same text to reach the quorum (required)")
			fs.StringVar(&dispute, "dispute", "", "message id of the dispute (default: the open one)")
		},
		func(id string) (proto.Message, error) {
			return &mvmv1.Ruling{Header: mvmclient.NewHeader(), PackageId: id, DisputeId: dispute, Decision: decision}, required("decision", decision)
		})
}
