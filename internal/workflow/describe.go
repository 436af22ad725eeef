package workflow

import (
	"fmt"
	"strings"

	"google.golang.org/protobuf/proto"

	mvmv1 "github.com/mvm-exchange/mvm/proto/mvm/v1"
)

// Describe is a one-line human summary of a payload, for histories.
func Describe(m proto.Message) string {
	switch p := m.(type) {
	case *mvmv1.Agreement:
		return fmt.Sprintf("agreement %q: %d parties, ruling quorum %d", p.Title, len(p.Parties), p.RulingQuorum)
	case *mvmv1.TargetPackage:
		locs := make([]string, len(p.Locations))
		for i, l := range p.Locations {
			locs[i] = fmt.Sprintf("%.5f,%.5f", l.Lat, l.Lon)
		}
		return fmt.Sprintf("target package at %s%s", strings.Join(locs, "; "), suffix(p.Summary))
	case *mvmv1.Acknowledgement:
		return "acknowledged" + suffix(p.Note)
	case *mvmv1.RequestForInformation:
		return "request for information" + suffix(p.Question)
	case *mvmv1.InformationResponse:
		return "information response" + suffix(p.Answer)
	case *mvmv1.ActionReport:
		return "action reported: " + OutcomeName(p.Outcome) + suffix(p.Note)
	case *mvmv1.EvidenceSubmission:
		return fmt.Sprintf("evidence: %d digests%s", len(p.EvidenceSha256), suffix(p.Note))
	case *mvmv1.Withdrawal:
		return "withdrawn" + suffix(p.Reason)
	case *mvmv1.VerificationFinding:
		return "finding: " + VerdictName(p.Verdict) + suffix(p.Reason)
	case *mvmv1.Dispute:
		if p.FindingId != "" {
			return "dispute of finding " + p.FindingId + suffix(p.Reason)
		}
		return "dispute" + suffix(p.Reason)
	case *mvmv1.Ruling:
		if p.DisputeId == "" {
			return "ruling on the open dispute" + suffix(p.Decision)
		}
		return "ruling on dispute " + p.DisputeId + suffix(p.Decision)
	case *mvmv1.ReportPublication:
		return fmt.Sprintf("monthly report %s published: sha256 %x, checkpoint size %d", p.Month, p.ReportSha256, p.CheckpointSize)
	}
	return string(m.ProtoReflect().Descriptor().FullName())
}

func suffix(s string) string {
	if s == "" {
		return ""
	}
	if len(s) > 80 {
		s = s[:77] + "..."
	}
	return ": " + s
}
