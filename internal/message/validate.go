package message

import (
	"math"
	"regexp"
	"unicode/utf8"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/mvm-exchange/mvm/internal/identity"
	mvmv1 "github.com/mvm-exchange/mvm/proto/mvm/v1"
)

// Limits enforced by Validate. They bound what one message can make the
// server store and every auditor download.
const (
	MaxLocations      = 16
	MaxEvidence       = 32   // evidence files (digests) per message: the files-per-submission limit
	MaxShortText      = 256  // names, groups, location descriptions
	MaxText           = 4096 // summaries, questions, answers, reasons, notes
	MaxPrecisionM     = 1_000_000
	MaxCount          = 100_000
	EvidenceDigestLen = 32 // SHA-256
)

// Validate checks a decoded payload. Agreements are checked only for their
// header here; package agreement validates the rest.
//
// A sealed payload (one with a sealed body) is checked as a cleartext
// header: its sensitive fields ([Sensitive]) must be empty, which waives
// their being required; its body is bounded; a target package's wrapped
// keys are well formed. Whether a payload must be sealed is the agreement's
// word, which the reducer enforces (package workflow); the body's content
// is checked by its recipients ([Open]).
func Validate(m proto.Message) error {
	if err := validateHeader(Header(m)); err != nil {
		return err
	}
	if !IsSealed(m) {
		if len(PackageKeys(m)) > 0 {
			return fieldErr("package_keys", "wrapped package keys without a sealed body")
		}
		return validate(m, false)
	}
	if err := validateSeal(m); err != nil {
		return err
	}
	return validate(m, true)
}

// validate checks the fields of m; sealed waives the sensitive fields'
// being required (they are in the body, checked by its recipients).
func validate(m proto.Message, sealed bool) error {
	req := 1
	if sealed {
		req = 0
	}
	switch p := m.(type) {
	case *mvmv1.Agreement:
		return nil
	case *mvmv1.TargetPackage:
		return validateTargetPackage(p, req)
	case *mvmv1.Acknowledgement:
		return firstErr(packageID(p.PackageId), text("note", p.Note, 0, MaxText))
	case *mvmv1.RequestForInformation:
		return firstErr(packageID(p.PackageId), text("question", p.Question, req, MaxText))
	case *mvmv1.InformationResponse:
		return firstErr(packageID(p.PackageId), optionalID("request_id", p.RequestId),
			text("answer", p.Answer, req, MaxText), evidence("evidence_sha256", p.EvidenceSha256))
	case *mvmv1.ActionReport:
		return validateActionReport(p, req)
	case *mvmv1.EvidenceSubmission:
		if len(p.EvidenceSha256) == 0 {
			return fieldErr("evidence_sha256", "at least one digest is required")
		}
		return firstErr(packageID(p.PackageId), evidence("evidence_sha256", p.EvidenceSha256), text("note", p.Note, 0, MaxText),
			evidenceFiles(p.Files, p.EvidenceSha256, req))
	case *mvmv1.Withdrawal:
		return firstErr(packageID(p.PackageId), text("reason", p.Reason, req, MaxText))
	case *mvmv1.VerificationFinding:
		if _, ok := mvmv1.Verdict_name[int32(p.Verdict)]; !ok || p.Verdict == mvmv1.Verdict_VERDICT_UNSPECIFIED {
			return fieldErr("verdict", "must be confirmed, inconclusive or contradicted")
		}
		return firstErr(packageID(p.PackageId), text("reason", p.Reason, req, MaxText), evidence("evidence_sha256", p.EvidenceSha256))
	case *mvmv1.Dispute:
		return firstErr(packageID(p.PackageId), optionalID("finding_id", p.FindingId), text("reason", p.Reason, req, MaxText))
	case *mvmv1.Ruling:
		return firstErr(packageID(p.PackageId), optionalID("dispute_id", p.DisputeId), text("decision", p.Decision, 1, MaxText))
	case *mvmv1.ReportPublication:
		return validatePublication(p)
	}
	return fieldErr("payload_type", "%T is not a payload", m)
}

func validateHeader(h *mvmv1.Header) error {
	if h == nil {
		return fieldErr("header", "is required")
	}
	if !ValidID(h.MessageId) {
		return fieldErr("header.message_id", "%q must be 1-64 characters of [A-Za-z0-9._-]", truncate(h.MessageId))
	}
	if h.AuthoredAt == nil {
		return fieldErr("header.authored_at", "is required")
	}
	return timestamp("header.authored_at", h.AuthoredAt)
}

func validateTargetPackage(p *mvmv1.TargetPackage, req int) error {
	if len(p.Locations) < req {
		return fieldErr("locations", "at least one location is required")
	}
	if len(p.Locations) > MaxLocations {
		return fieldErr("locations", "%d locations, at most %d", len(p.Locations), MaxLocations)
	}
	for i, l := range p.Locations {
		f := func(name string) string { return "locations[" + itoa(i) + "]." + name }
		switch {
		case !finite(l.Lat) || l.Lat < -90 || l.Lat > 90:
			return fieldErr(f("lat"), "%v is outside [-90, 90]", l.Lat)
		case !finite(l.Lon) || l.Lon < -180 || l.Lon > 180:
			return fieldErr(f("lon"), "%v is outside [-180, 180]", l.Lon)
		case !finite(l.PrecisionM) || l.PrecisionM < 0 || l.PrecisionM > MaxPrecisionM:
			return fieldErr(f("precision_m"), "%v is outside [0, %d]", l.PrecisionM, MaxPrecisionM)
		}
		if err := text(f("description"), l.Description, 0, MaxShortText); err != nil {
			return err
		}
	}
	if _, ok := mvmv1.Priority_name[int32(p.Priority)]; !ok {
		return fieldErr("priority", "unknown value %d", p.Priority)
	}
	if _, ok := mvmv1.Tlp_name[int32(p.Tlp)]; !ok {
		return fieldErr("tlp", "unknown value %d", p.Tlp)
	}
	if p.Responder != "" && !identity.ValidName(p.Responder) {
		return fieldErr("responder", "%q is not a party id", truncate(p.Responder))
	}
	return firstErr(text("suspected_group", p.SuspectedGroup, 0, MaxShortText),
		text("summary", p.Summary, 0, MaxText), evidence("evidence_sha256", p.EvidenceSha256))
}

func validateActionReport(p *mvmv1.ActionReport, req int) error {
	if _, ok := mvmv1.Outcome_name[int32(p.Outcome)]; !ok || p.Outcome == mvmv1.Outcome_OUTCOME_UNSPECIFIED {
		return fieldErr("outcome", "must be one of raid, destroyed, arrests, not-found, no-access, declined")
	}
	if p.ActionTime != nil {
		if err := timestamp("action_time", p.ActionTime); err != nil {
			return err
		}
	}
	if c := p.Counts; c != nil {
		for _, f := range [...]struct {
			name string
			v    uint32
		}{{"arrested", c.Arrested}, {"killed", c.Killed}, {"injured", c.Injured}, {"weapons_seized", c.WeaponsSeized}} {
			if f.v > MaxCount {
				return fieldErr("counts."+f.name, "%d exceeds %d", f.v, MaxCount)
			}
		}
	}
	minNote := 0
	if p.Outcome == mvmv1.Outcome_OUTCOME_DECLINED {
		minNote = req // a refusal must give its reason
	}
	return firstErr(packageID(p.PackageId), text("note", p.Note, minNote, MaxText), evidence("evidence_sha256", p.EvidenceSha256))
}

// validatePublication checks a report publication's fields; whether its
// checkpoint is one the log had is the reducer's (its size) and the
// server's and readers' (its root) to judge.
func validatePublication(p *mvmv1.ReportPublication) error {
	if !ValidMonth(p.Month) {
		return fieldErr("month", "%q must be a month, YYYY-MM (e.g. 2026-11)", truncate(p.Month))
	}
	switch {
	case len(p.ReportSha256) != EvidenceDigestLen:
		return fieldErr("report_sha256", "%d bytes, a SHA-256 digest has %d", len(p.ReportSha256), EvidenceDigestLen)
	case p.CheckpointSize == 0:
		return fieldErr("checkpoint_size", "is required: a report is computed at a checkpoint of at least the genesis")
	case len(p.CheckpointRoot) != EvidenceDigestLen:
		return fieldErr("checkpoint_root", "%d bytes, a Merkle root has %d", len(p.CheckpointRoot), EvidenceDigestLen)
	}
	return nil
}

var monthPattern = regexp.MustCompile(`^[0-9]{4}-(0[1-9]|1[0-2])$`)

// ValidMonth reports whether s is a calendar month as a report names it,
// "YYYY-MM" (and nothing else: "2026-1" or "2026-11-01" are not).
func ValidMonth(s string) bool { return monthPattern.MatchString(s) }

func firstErr(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

func packageID(id string) error {
	if !ValidID(id) {
		return fieldErr("package_id", "%q must be 1-64 characters of [A-Za-z0-9._-]", truncate(id))
	}
	return nil
}

func optionalID(field, id string) error {
	if id != "" && !ValidID(id) {
		return fieldErr(field, "%q must be 1-64 characters of [A-Za-z0-9._-]", truncate(id))
	}
	return nil
}

func text(field, s string, minLen, maxLen int) error {
	switch {
	case len(s) < minLen:
		return fieldErr(field, "is required")
	case len(s) > maxLen:
		return fieldErr(field, "%d bytes, at most %d", len(s), maxLen)
	case !utf8.ValidString(s):
		return fieldErr(field, "is not valid UTF-8")
	}
	return nil
}

func evidence(field string, digests [][]byte) error {
	if len(digests) > MaxEvidence {
		return fieldErr(field, "%d evidence files, over the limit of %d per message (files per submission)", len(digests), MaxEvidence)
	}
	for i, d := range digests {
		if len(d) != EvidenceDigestLen {
			return fieldErr(field+"["+itoa(i)+"]", "%d bytes, a SHA-256 digest has %d", len(d), EvidenceDigestLen)
		}
	}
	return nil
}

func timestamp(field string, ts *timestamppb.Timestamp) error {
	if err := ts.CheckValid(); err != nil {
		return fieldErr(field, "%v", err)
	}
	return nil
}

func finite(f float64) bool { return !math.IsNaN(f) && !math.IsInf(f, 0) }

func truncate(s string) string {
	if len(s) > 40 {
		return s[:40] + "..."
	}
	return s
}
