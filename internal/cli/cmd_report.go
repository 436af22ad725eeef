package cli

import (
	"flag"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/mvm-exchange/mvm/client/mvmclient"
	"github.com/mvm-exchange/mvm/internal/workflow"
	mvmv1 "github.com/mvm-exchange/mvm/proto/mvm/v1"
)

// reportCmd reports the action taken on a package.
type reportCmd struct {
	outcome, note, actionTime          string
	arrested, killed, injured, weapons uint
	evidence                           stringList
}

func (c *reportCmd) register(fs *flag.FlagSet) {
	fs.StringVar(&c.outcome, "outcome", "", "raid, destroyed, arrests, not-found, no-access or declined (required)")
	fs.StringVar(&c.note, "note", "", "note (required when declined)")
	fs.StringVar(&c.actionTime, "time", "", "when the action took place, a `TIME`: RFC 3339, or a date meaning 00:00 UTC (default now)")
	fs.UintVar(&c.arrested, "arrested", 0, "people arrested")
	fs.UintVar(&c.killed, "killed", 0, "people killed")
	fs.UintVar(&c.injured, "injured", 0, "people injured")
	fs.UintVar(&c.weapons, "weapons", 0, "weapons seized")
	evidenceFlag(fs, &c.evidence, "")
}

func (c *reportCmd) message(id string) (proto.Message, error) {
	if c.outcome == "" {
		return nil, usagef("--outcome is required")
	}
	o, err := workflow.ParseOutcome(c.outcome)
	if err != nil {
		return nil, usagef("--outcome: %v", err)
	}
	at, err := parseTime(c.actionTime)
	if err != nil {
		return nil, usagef("--time: %v", err)
	}
	digests, err := c.evidence.digests()
	if err != nil {
		return nil, err
	}
	return &mvmv1.ActionReport{Header: mvmclient.NewHeader(), PackageId: id, Outcome: o, Note: c.note,
		ActionTime: timestamppb.New(at), EvidenceSha256: digests,
		Counts: &mvmv1.ActionCounts{Arrested: uint32(c.arrested), Killed: uint32(c.killed), Injured: uint32(c.injured), WeaponsSeized: uint32(c.weapons)}}, nil
}
