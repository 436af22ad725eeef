package workflow

import (
	"fmt"
	"strings"

	mvmv1 "github.com/mvm-exchange/mvm/proto/mvm/v1"
)

var outcomeNames = map[mvmv1.Outcome]string{
	mvmv1.Outcome_OUTCOME_RAID_CONDUCTED: "raid",
	mvmv1.Outcome_OUTCOME_SITE_DESTROYED: "destroyed",
	mvmv1.Outcome_OUTCOME_ARRESTS:        "arrests",
	mvmv1.Outcome_OUTCOME_NOT_FOUND:      "not-found",
	mvmv1.Outcome_OUTCOME_NO_ACCESS:      "no-access",
	mvmv1.Outcome_OUTCOME_DECLINED:       "declined",
}

// OutcomeName is the CLI name of an outcome (raid, destroyed, ...).
func OutcomeName(o mvmv1.Outcome) string {
	if n, ok := outcomeNames[o]; ok {
		return n
	}
	return "unspecified"
}

// ParseOutcome maps a CLI name to an outcome.
func ParseOutcome(s string) (mvmv1.Outcome, error) {
	for o, n := range outcomeNames {
		if n == s {
			return o, nil
		}
	}
	return 0, fmt.Errorf("unknown outcome %q (want raid, destroyed, arrests, not-found, no-access or declined)", s)
}

// VerdictName is the CLI name of a verdict.
func VerdictName(v mvmv1.Verdict) string {
	return strings.ToLower(strings.TrimPrefix(v.String(), "VERDICT_"))
}

// ParseVerdict maps a CLI name to a verdict.
func ParseVerdict(s string) (mvmv1.Verdict, error) {
	v, ok := mvmv1.Verdict_value["VERDICT_"+strings.ToUpper(s)]
	if !ok || v == 0 {
		return 0, fmt.Errorf("unknown verdict %q (want confirmed, inconclusive or contradicted)", s)
	}
	return mvmv1.Verdict(v), nil
}

// Short names of payload types for histories.
var shortTypes = map[string]string{
	"mvm.v1.Agreement":             "agreement",
	"mvm.v1.TargetPackage":         "target-package",
	"mvm.v1.Acknowledgement":       "acknowledgement",
	"mvm.v1.RequestForInformation": "request-for-information",
	"mvm.v1.InformationResponse":   "information-response",
	"mvm.v1.ActionReport":          "action-report",
	"mvm.v1.EvidenceSubmission":    "evidence",
	"mvm.v1.Withdrawal":            "withdrawal",
	"mvm.v1.VerificationFinding":   "finding",
	"mvm.v1.Dispute":               "dispute",
	"mvm.v1.Ruling":                "ruling",
	"mvm.v1.ReportPublication":     "report-publication",
}

// ShortType is the domain name of a payload type ("acknowledgement").
func ShortType(payloadType string) string {
	if s, ok := shortTypes[payloadType]; ok {
		return s
	}
	return payloadType
}
