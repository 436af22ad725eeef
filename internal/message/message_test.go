package message_test

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"regexp"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/mvm-exchange/mvm/internal/message"
	mvmv1 "github.com/mvm-exchange/mvm/proto/mvm/v1"
)

var authored = timestamppb.New(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))

func hdr() *mvmv1.Header { return &mvmv1.Header{MessageId: "msg-1", AuthoredAt: authored} }

func digests(n int) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		out[i] = bytes.Repeat([]byte{byte(i + 1)}, 32)
	}
	return out
}

func loc() *mvmv1.Location {
	return &mvmv1.Location{Lat: 34.0151, Lon: 71.5249, PrecisionM: 50, Description: "compound"}
}

// Valid messages of every payload type.
func validTarget() *mvmv1.TargetPackage {
	return &mvmv1.TargetPackage{Header: hdr(), Locations: []*mvmv1.Location{loc()}, SuspectedGroup: "group",
		Summary: "summary", Priority: mvmv1.Priority_PRIORITY_HIGH, Tlp: mvmv1.Tlp_TLP_AMBER,
		EvidenceSha256: digests(1), Responder: "af"}
}
func validAck() *mvmv1.Acknowledgement {
	return &mvmv1.Acknowledgement{Header: hdr(), PackageId: "pkg-1", Note: "ok"}
}
func validRFI() *mvmv1.RequestForInformation {
	return &mvmv1.RequestForInformation{Header: hdr(), PackageId: "pkg-1", Question: "which building?"}
}
func validResponse() *mvmv1.InformationResponse {
	return &mvmv1.InformationResponse{Header: hdr(), PackageId: "pkg-1", RequestId: "rfi-1", Answer: "the north one",
		EvidenceSha256: digests(1)}
}
func validReport() *mvmv1.ActionReport {
	return &mvmv1.ActionReport{Header: hdr(), PackageId: "pkg-1", Outcome: mvmv1.Outcome_OUTCOME_RAID_CONDUCTED,
		ActionTime: authored, Counts: &mvmv1.ActionCounts{Arrested: 1, Killed: 0, Injured: 2, WeaponsSeized: 3},
		Note: "done", EvidenceSha256: digests(2)}
}
func validEvidence() *mvmv1.EvidenceSubmission {
	return &mvmv1.EvidenceSubmission{Header: hdr(), PackageId: "pkg-1", EvidenceSha256: digests(1), Note: "photos"}
}
func validWithdrawal() *mvmv1.Withdrawal {
	return &mvmv1.Withdrawal{Header: hdr(), PackageId: "pkg-1", Reason: "stale"}
}
func validFinding() *mvmv1.VerificationFinding {
	return &mvmv1.VerificationFinding{Header: hdr(), PackageId: "pkg-1", Verdict: mvmv1.Verdict_VERDICT_CONFIRMED,
		Reason: "seen", EvidenceSha256: digests(1)}
}
func validDispute() *mvmv1.Dispute {
	return &mvmv1.Dispute{Header: hdr(), PackageId: "pkg-1", FindingId: "f-1", Reason: "wrong"}
}
func validRuling() *mvmv1.Ruling {
	return &mvmv1.Ruling{Header: hdr(), PackageId: "pkg-1", DisputeId: "d-1", Decision: "upheld"}
}
func validPublication() *mvmv1.ReportPublication {
	return &mvmv1.ReportPublication{Header: hdr(), Month: "2026-11", ReportSha256: digests(1)[0], CheckpointSize: 9,
		CheckpointRoot: digests(2)[1]}
}
func validAgreement() *mvmv1.Agreement {
	return &mvmv1.Agreement{Header: hdr(), Title: "t", TrustDomain: "mvm.example", LogOrigin: "o",
		Parties:   []*mvmv1.Party{{Id: "pk", Role: mvmv1.Role_ROLE_SUBMITTER, CaCertificates: [][]byte{{1}}}},
		Deadlines: &mvmv1.Deadlines{}}
}

func allValid() []proto.Message {
	return []proto.Message{validAgreement(), validTarget(), validAck(), validRFI(), validResponse(), validReport(),
		validEvidence(), validWithdrawal(), validFinding(), validDispute(), validRuling(), validPublication()}
}

func mustMarshal(t testing.TB, m proto.Message) []byte {
	t.Helper()
	b, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func unknownField() []byte {
	b := protowire.AppendTag(nil, 999, protowire.BytesType)
	return protowire.AppendBytes(b, []byte("surprise"))
}

func TestPayloadTypes(t *testing.T) {
	want := map[string]string{
		message.TypeAgreement:             "mvm.v1.Agreement",
		message.TypeTargetPackage:         "mvm.v1.TargetPackage",
		message.TypeAcknowledgement:       "mvm.v1.Acknowledgement",
		message.TypeRequestForInformation: "mvm.v1.RequestForInformation",
		message.TypeInformationResponse:   "mvm.v1.InformationResponse",
		message.TypeActionReport:          "mvm.v1.ActionReport",
		message.TypeEvidenceSubmission:    "mvm.v1.EvidenceSubmission",
		message.TypeWithdrawal:            "mvm.v1.Withdrawal",
		message.TypeVerificationFinding:   "mvm.v1.VerificationFinding",
		message.TypeDispute:               "mvm.v1.Dispute",
		message.TypeRuling:                "mvm.v1.Ruling",
		message.TypeReportPublication:     "mvm.v1.ReportPublication",
	}
	if got := len(want); got != 12 {
		t.Fatalf("payload type constants collide: got %v distinct, want %v", got, 12)
	}
	for got, w := range want {
		if got != w {
			t.Errorf("payload type: got %v, want %v", got, w)
		}
	}
}

func TestDecodeRoundTrip(t *testing.T) {
	for _, m := range allValid() {
		typ := message.TypeOf(m)
		got, err := message.Decode(typ, mustMarshal(t, m))
		if err != nil {
			t.Errorf("Decode(%s): got %v, want nil", typ, err)
			continue
		}
		if !proto.Equal(got, m) {
			t.Errorf("Decode(%s): got %v, want %v", typ, got, m)
		}
		if err := message.Validate(got); err != nil {
			t.Errorf("Validate(%s): got %v, want nil", typ, err)
		}
	}
}

func TestDecodeRejects(t *testing.T) {
	withUnknown := func(m proto.Message, set func(m proto.Message)) []byte {
		c := proto.Clone(m)
		set(c)
		return mustMarshal(t, c)
	}
	tests := []struct {
		name    string
		typ     string
		payload []byte
		want    error
		path    string // expected in the error, if set
	}{
		{"empty type", "", mustMarshal(t, validAck()), message.ErrUnknownType, ""},
		{"not a payload type", "mvm.v1.Cosignature", mustMarshal(t, validAck()), message.ErrUnknownType, ""},
		{"envelope type", "mvm.v1.Envelope", mustMarshal(t, validAck()), message.ErrUnknownType, ""},
		{"lower-case type", "mvm.v1.acknowledgement", mustMarshal(t, validAck()), message.ErrUnknownType, ""},
		{"garbage", message.TypeAcknowledgement, []byte{0xff, 0xff, 0xff}, message.ErrInvalid, ""},
		{"truncated", message.TypeTargetPackage, mustMarshal(t, validTarget())[:20], message.ErrInvalid, ""},
		{"unknown top-level field", message.TypeAcknowledgement,
			append(mustMarshal(t, validAck()), unknownField()...), message.ErrInvalid, `"."`},
		{"unknown field in the header", message.TypeWithdrawal, withUnknown(validWithdrawal(), func(m proto.Message) {
			h := m.(*mvmv1.Withdrawal).Header
			h.ProtoReflect().SetUnknown(unknownField())
		}), message.ErrInvalid, ".header"},
		{"unknown field in authored_at", message.TypeRuling, withUnknown(validRuling(), func(m proto.Message) {
			m.(*mvmv1.Ruling).Header.AuthoredAt.ProtoReflect().SetUnknown(unknownField())
		}), message.ErrInvalid, ".header.authored_at"},
		{"unknown field in a location", message.TypeTargetPackage, withUnknown(validTarget(), func(m proto.Message) {
			tp := m.(*mvmv1.TargetPackage)
			tp.Locations = append(tp.Locations, loc())
			tp.Locations[1].ProtoReflect().SetUnknown(unknownField())
		}), message.ErrInvalid, ".locations[1]"},
		{"unknown field in action counts", message.TypeActionReport, withUnknown(validReport(), func(m proto.Message) {
			m.(*mvmv1.ActionReport).Counts.ProtoReflect().SetUnknown(unknownField())
		}), message.ErrInvalid, ".counts"},
		{"unknown field in an agreement party", message.TypeAgreement, withUnknown(validAgreement(), func(m proto.Message) {
			m.(*mvmv1.Agreement).Parties[0].ProtoReflect().SetUnknown(unknownField())
		}), message.ErrInvalid, ".parties[0]"},
		{"unknown field in agreement deadlines", message.TypeAgreement, withUnknown(validAgreement(), func(m proto.Message) {
			m.(*mvmv1.Agreement).Deadlines.ProtoReflect().SetUnknown(unknownField())
		}), message.ErrInvalid, ".deadlines"},
		{"unknown enum-number field elsewhere: wrong wire type for a known field", message.TypeAcknowledgement,
			protowire.AppendVarint(protowire.AppendTag(nil, 2, protowire.VarintType), 5), message.ErrInvalid, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := message.Decode(tt.typ, tt.payload)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Decode: got %v, want %v", err, tt.want)
			}
			if m != nil {
				t.Errorf("Decode returned a message with an error")
			}
			if tt.path != "" && !strings.Contains(err.Error(), tt.path) {
				t.Errorf("Decode error %q does not name %s", err, tt.path)
			}
		})
	}
}

type vcase struct {
	name  string
	build func() proto.Message
	field string // "" = valid
}

func at[T proto.Message](name string, mk func() T, mutate func(T), field string) vcase {
	return vcase{name, func() proto.Message { m := mk(); mutate(m); return m }, field}
}

func strN(n int) string { return strings.Repeat("x", n) }

// headerCases checks the header limits on one payload type.
func headerCases[T proto.Message](typ string, mk func() T, h func(T) **mvmv1.Header) []vcase {
	p := func(name string) string { return typ + ": " + name }
	return []vcase{
		at(p("valid"), mk, func(T) {}, ""),
		at(p("no header"), mk, func(m T) { *h(m) = nil }, "header"),
		at(p("empty message id"), mk, func(m T) { (*h(m)).MessageId = "" }, "header.message_id"),
		at(p("message id of 64"), mk, func(m T) { (*h(m)).MessageId = strN(64) }, ""),
		at(p("message id of 65"), mk, func(m T) { (*h(m)).MessageId = strN(65) }, "header.message_id"),
		at(p("message id with a slash"), mk, func(m T) { (*h(m)).MessageId = "a/b" }, "header.message_id"),
		at(p("message id starting with a dot"), mk, func(m T) { (*h(m)).MessageId = ".a" }, "header.message_id"),
		at(p("no authored_at"), mk, func(m T) { (*h(m)).AuthoredAt = nil }, "header.authored_at"),
		at(p("authored_at nanos out of range"), mk, func(m T) {
			(*h(m)).AuthoredAt = &timestamppb.Timestamp{Seconds: 1, Nanos: 1_000_000_000}
		}, "header.authored_at"),
		at(p("authored_at after year 9999"), mk, func(m T) {
			(*h(m)).AuthoredAt = &timestamppb.Timestamp{Seconds: 253402300800}
		}, "header.authored_at"),
	}
}

// textCases checks a text field at and just over its bound, and UTF-8.
func textCases[T proto.Message](typ, field string, mk func() T, s func(T) *string, required bool, max int) []vcase {
	p := func(name string) string { return typ + ": " + field + " " + name }
	empty := field
	if !required {
		empty = ""
	}
	return []vcase{
		at(p("empty"), mk, func(m T) { *s(m) = "" }, empty),
		at(p("of 1"), mk, func(m T) { *s(m) = "x" }, ""),
		at(p(fmt.Sprint("at max ", max)), mk, func(m T) { *s(m) = strN(max) }, ""),
		at(p(fmt.Sprint("at max ", max, " in multi-byte runes")), mk, func(m T) { *s(m) = strings.Repeat("é", max/2) }, ""),
		at(p("just over max"), mk, func(m T) { *s(m) = strN(max + 1) }, field),
		at(p("invalid UTF-8"), mk, func(m T) { *s(m) = "ok\xff" }, field),
	}
}

func packageIDCases[T proto.Message](typ string, mk func() T, s func(T) *string) []vcase {
	p := func(name string) string { return typ + ": package_id " + name }
	return []vcase{
		at(p("empty"), mk, func(m T) { *s(m) = "" }, "package_id"),
		at(p("of 64"), mk, func(m T) { *s(m) = strN(64) }, ""),
		at(p("of 65"), mk, func(m T) { *s(m) = strN(65) }, "package_id"),
		at(p("with a space"), mk, func(m T) { *s(m) = "a b" }, "package_id"),
	}
}

func optionalIDCases[T proto.Message](typ, field string, mk func() T, s func(T) *string) []vcase {
	p := func(name string) string { return typ + ": " + field + " " + name }
	return []vcase{
		at(p("empty"), mk, func(m T) { *s(m) = "" }, ""),
		at(p("of 64"), mk, func(m T) { *s(m) = strN(64) }, ""),
		at(p("of 65"), mk, func(m T) { *s(m) = strN(65) }, field),
		at(p("with a NUL"), mk, func(m T) { *s(m) = "a\x00" }, field),
	}
}

func evidenceCases[T proto.Message](typ string, mk func() T, s func(T) *[][]byte, minOne bool) []vcase {
	p := func(name string) string { return typ + ": evidence_sha256 " + name }
	none := ""
	if minOne {
		none = "evidence_sha256"
	}
	return []vcase{
		at(p("none"), mk, func(m T) { *s(m) = nil }, none),
		at(p("32 digests"), mk, func(m T) { *s(m) = digests(32) }, ""),
		at(p("33 digests"), mk, func(m T) { *s(m) = digests(33) }, "evidence_sha256"),
		at(p("digest of 31 bytes"), mk, func(m T) { d := digests(2); d[1] = d[1][:31]; *s(m) = d }, "evidence_sha256[1]"),
		at(p("digest of 33 bytes"), mk, func(m T) { d := digests(1); d[0] = append(d[0], 0); *s(m) = d }, "evidence_sha256[0]"),
		at(p("empty digest"), mk, func(m T) { *s(m) = [][]byte{{}} }, "evidence_sha256[0]"),
	}
}

func validationCases() []vcase {
	var cs []vcase
	add := func(c ...vcase) { cs = append(cs, c...) }

	// Agreement: only the header here.
	add(headerCases("agreement", validAgreement, func(m *mvmv1.Agreement) **mvmv1.Header { return &m.Header })...)
	add(at("agreement: no parties is left to package agreement", validAgreement, func(m *mvmv1.Agreement) { m.Parties = nil }, ""))

	// TargetPackage.
	const tp = "target"
	add(headerCases(tp, validTarget, func(m *mvmv1.TargetPackage) **mvmv1.Header { return &m.Header })...)
	locs := func(n int) []*mvmv1.Location {
		out := make([]*mvmv1.Location, n)
		for i := range out {
			out[i] = loc()
		}
		return out
	}
	add(
		at(tp+": no locations", validTarget, func(m *mvmv1.TargetPackage) { m.Locations = nil }, "locations"),
		at(tp+": 16 locations", validTarget, func(m *mvmv1.TargetPackage) { m.Locations = locs(16) }, ""),
		at(tp+": 17 locations", validTarget, func(m *mvmv1.TargetPackage) { m.Locations = locs(17) }, "locations"),
	)
	type coord struct {
		name  string
		set   func(l *mvmv1.Location, v float64)
		lo    float64
		hi    float64
		field string
	}
	for _, c := range []coord{
		{"lat", func(l *mvmv1.Location, v float64) { l.Lat = v }, -90, 90, "lat"},
		{"lon", func(l *mvmv1.Location, v float64) { l.Lon = v }, -180, 180, "lon"},
		{"precision_m", func(l *mvmv1.Location, v float64) { l.PrecisionM = v }, 0, message.MaxPrecisionM, "precision_m"},
	} {
		f := "locations[2]." + c.field
		for _, v := range []struct {
			name string
			v    float64
			ok   bool
		}{
			{"at lower bound", c.lo, true},
			{"at upper bound", c.hi, true},
			{"just below lower bound", math.Nextafter(c.lo, math.Inf(-1)), false},
			{"just above upper bound", math.Nextafter(c.hi, math.Inf(1)), false},
			{"one below lower bound", c.lo - 1, false},
			{"one above upper bound", c.hi + 1, false},
			{"NaN", math.NaN(), false},
			{"+Inf", math.Inf(1), false},
			{"-Inf", math.Inf(-1), false},
			{"negative zero", math.Copysign(0, -1), true},
		} {
			want := f
			if v.ok {
				want = ""
			}
			add(at(fmt.Sprintf("%s: %s %s (%v)", tp, c.name, v.name, v.v), validTarget, func(m *mvmv1.TargetPackage) {
				m.Locations = locs(3)
				c.set(m.Locations[2], v.v)
			}, want))
		}
	}
	add(textCases(tp, "locations[0].description", validTarget, func(m *mvmv1.TargetPackage) *string { return &m.Locations[0].Description }, false, message.MaxShortText)...)
	add(textCases(tp, "suspected_group", validTarget, func(m *mvmv1.TargetPackage) *string { return &m.SuspectedGroup }, false, message.MaxShortText)...)
	add(textCases(tp, "summary", validTarget, func(m *mvmv1.TargetPackage) *string { return &m.Summary }, false, message.MaxText)...)
	add(evidenceCases(tp, validTarget, func(m *mvmv1.TargetPackage) *[][]byte { return &m.EvidenceSha256 }, false)...)
	add(
		at(tp+": priority unspecified", validTarget, func(m *mvmv1.TargetPackage) { m.Priority = 0 }, ""),
		at(tp+": priority urgent (max)", validTarget, func(m *mvmv1.TargetPackage) { m.Priority = mvmv1.Priority_PRIORITY_URGENT }, ""),
		at(tp+": priority just over max", validTarget, func(m *mvmv1.TargetPackage) { m.Priority = mvmv1.Priority_PRIORITY_URGENT + 1 }, "priority"),
		at(tp+": priority negative", validTarget, func(m *mvmv1.TargetPackage) { m.Priority = -1 }, "priority"),
		at(tp+": tlp red (max)", validTarget, func(m *mvmv1.TargetPackage) { m.Tlp = mvmv1.Tlp_TLP_RED }, ""),
		at(tp+": tlp just over max", validTarget, func(m *mvmv1.TargetPackage) { m.Tlp = mvmv1.Tlp_TLP_RED + 1 }, "tlp"),
		at(tp+": responder empty", validTarget, func(m *mvmv1.TargetPackage) { m.Responder = "" }, ""),
		at(tp+": responder of 63", validTarget, func(m *mvmv1.TargetPackage) { m.Responder = strings.Repeat("a", 63) }, ""),
		at(tp+": responder of 64", validTarget, func(m *mvmv1.TargetPackage) { m.Responder = strings.Repeat("a", 64) }, "responder"),
		at(tp+": responder upper case", validTarget, func(m *mvmv1.TargetPackage) { m.Responder = "AF" }, "responder"),
	)

	// Acknowledgement.
	const ack = "ack"
	add(headerCases(ack, validAck, func(m *mvmv1.Acknowledgement) **mvmv1.Header { return &m.Header })...)
	add(packageIDCases(ack, validAck, func(m *mvmv1.Acknowledgement) *string { return &m.PackageId })...)
	add(textCases(ack, "note", validAck, func(m *mvmv1.Acknowledgement) *string { return &m.Note }, false, message.MaxText)...)

	// RequestForInformation.
	const rfi = "rfi"
	add(headerCases(rfi, validRFI, func(m *mvmv1.RequestForInformation) **mvmv1.Header { return &m.Header })...)
	add(packageIDCases(rfi, validRFI, func(m *mvmv1.RequestForInformation) *string { return &m.PackageId })...)
	add(textCases(rfi, "question", validRFI, func(m *mvmv1.RequestForInformation) *string { return &m.Question }, true, message.MaxText)...)

	// InformationResponse.
	const resp = "response"
	add(headerCases(resp, validResponse, func(m *mvmv1.InformationResponse) **mvmv1.Header { return &m.Header })...)
	add(packageIDCases(resp, validResponse, func(m *mvmv1.InformationResponse) *string { return &m.PackageId })...)
	add(optionalIDCases(resp, "request_id", validResponse, func(m *mvmv1.InformationResponse) *string { return &m.RequestId })...)
	add(textCases(resp, "answer", validResponse, func(m *mvmv1.InformationResponse) *string { return &m.Answer }, true, message.MaxText)...)
	add(evidenceCases(resp, validResponse, func(m *mvmv1.InformationResponse) *[][]byte { return &m.EvidenceSha256 }, false)...)

	// ActionReport.
	const rep = "report"
	add(headerCases(rep, validReport, func(m *mvmv1.ActionReport) **mvmv1.Header { return &m.Header })...)
	add(packageIDCases(rep, validReport, func(m *mvmv1.ActionReport) *string { return &m.PackageId })...)
	add(textCases(rep, "note", validReport, func(m *mvmv1.ActionReport) *string { return &m.Note }, false, message.MaxText)...)
	add(evidenceCases(rep, validReport, func(m *mvmv1.ActionReport) *[][]byte { return &m.EvidenceSha256 }, false)...)
	for o := mvmv1.Outcome_OUTCOME_RAID_CONDUCTED; o <= mvmv1.Outcome_OUTCOME_DECLINED; o++ {
		add(at(fmt.Sprintf("%s: outcome %v", rep, o), validReport, func(m *mvmv1.ActionReport) { m.Outcome = o }, ""))
	}
	add(
		at(rep+": outcome unspecified", validReport, func(m *mvmv1.ActionReport) { m.Outcome = 0 }, "outcome"),
		at(rep+": outcome just over max", validReport, func(m *mvmv1.ActionReport) { m.Outcome = mvmv1.Outcome_OUTCOME_DECLINED + 1 }, "outcome"),
		at(rep+": declined without a note", validReport, func(m *mvmv1.ActionReport) {
			m.Outcome, m.Note = mvmv1.Outcome_OUTCOME_DECLINED, ""
		}, "note"),
		at(rep+": declined with a one-byte note", validReport, func(m *mvmv1.ActionReport) {
			m.Outcome, m.Note = mvmv1.Outcome_OUTCOME_DECLINED, "x"
		}, ""),
		at(rep+": no action time", validReport, func(m *mvmv1.ActionReport) { m.ActionTime = nil }, ""),
		at(rep+": action time invalid", validReport, func(m *mvmv1.ActionReport) {
			m.ActionTime = &timestamppb.Timestamp{Seconds: -62135596801}
		}, "action_time"),
		at(rep+": no counts", validReport, func(m *mvmv1.ActionReport) { m.Counts = nil }, ""),
	)
	for _, c := range []struct {
		name string
		set  func(c *mvmv1.ActionCounts, v uint32)
	}{
		{"arrested", func(c *mvmv1.ActionCounts, v uint32) { c.Arrested = v }},
		{"killed", func(c *mvmv1.ActionCounts, v uint32) { c.Killed = v }},
		{"injured", func(c *mvmv1.ActionCounts, v uint32) { c.Injured = v }},
		{"weapons_seized", func(c *mvmv1.ActionCounts, v uint32) { c.WeaponsSeized = v }},
	} {
		add(
			at(rep+": counts."+c.name+" at max", validReport, func(m *mvmv1.ActionReport) { c.set(m.Counts, message.MaxCount) }, ""),
			at(rep+": counts."+c.name+" just over max", validReport, func(m *mvmv1.ActionReport) { c.set(m.Counts, message.MaxCount+1) }, "counts."+c.name),
			at(rep+": counts."+c.name+" max uint32", validReport, func(m *mvmv1.ActionReport) { c.set(m.Counts, math.MaxUint32) }, "counts."+c.name),
		)
	}

	// EvidenceSubmission.
	const ev = "evidence"
	add(headerCases(ev, validEvidence, func(m *mvmv1.EvidenceSubmission) **mvmv1.Header { return &m.Header })...)
	add(packageIDCases(ev, validEvidence, func(m *mvmv1.EvidenceSubmission) *string { return &m.PackageId })...)
	add(textCases(ev, "note", validEvidence, func(m *mvmv1.EvidenceSubmission) *string { return &m.Note }, false, message.MaxText)...)
	add(evidenceCases(ev, validEvidence, func(m *mvmv1.EvidenceSubmission) *[][]byte { return &m.EvidenceSha256 }, true)...)

	// Withdrawal.
	const wd = "withdrawal"
	add(headerCases(wd, validWithdrawal, func(m *mvmv1.Withdrawal) **mvmv1.Header { return &m.Header })...)
	add(packageIDCases(wd, validWithdrawal, func(m *mvmv1.Withdrawal) *string { return &m.PackageId })...)
	add(textCases(wd, "reason", validWithdrawal, func(m *mvmv1.Withdrawal) *string { return &m.Reason }, true, message.MaxText)...)

	// VerificationFinding.
	const vf = "finding"
	add(headerCases(vf, validFinding, func(m *mvmv1.VerificationFinding) **mvmv1.Header { return &m.Header })...)
	add(packageIDCases(vf, validFinding, func(m *mvmv1.VerificationFinding) *string { return &m.PackageId })...)
	add(textCases(vf, "reason", validFinding, func(m *mvmv1.VerificationFinding) *string { return &m.Reason }, true, message.MaxText)...)
	add(evidenceCases(vf, validFinding, func(m *mvmv1.VerificationFinding) *[][]byte { return &m.EvidenceSha256 }, false)...)
	add(
		at(vf+": verdict unspecified", validFinding, func(m *mvmv1.VerificationFinding) { m.Verdict = 0 }, "verdict"),
		at(vf+": verdict inconclusive", validFinding, func(m *mvmv1.VerificationFinding) { m.Verdict = mvmv1.Verdict_VERDICT_INCONCLUSIVE }, ""),
		at(vf+": verdict contradicted (max)", validFinding, func(m *mvmv1.VerificationFinding) { m.Verdict = mvmv1.Verdict_VERDICT_CONTRADICTED }, ""),
		at(vf+": verdict just over max", validFinding, func(m *mvmv1.VerificationFinding) { m.Verdict = mvmv1.Verdict_VERDICT_CONTRADICTED + 1 }, "verdict"),
	)

	// Dispute.
	const dp = "dispute"
	add(headerCases(dp, validDispute, func(m *mvmv1.Dispute) **mvmv1.Header { return &m.Header })...)
	add(packageIDCases(dp, validDispute, func(m *mvmv1.Dispute) *string { return &m.PackageId })...)
	add(optionalIDCases(dp, "finding_id", validDispute, func(m *mvmv1.Dispute) *string { return &m.FindingId })...)
	add(textCases(dp, "reason", validDispute, func(m *mvmv1.Dispute) *string { return &m.Reason }, true, message.MaxText)...)

	// Ruling.
	const rl = "ruling"
	add(headerCases(rl, validRuling, func(m *mvmv1.Ruling) **mvmv1.Header { return &m.Header })...)
	add(packageIDCases(rl, validRuling, func(m *mvmv1.Ruling) *string { return &m.PackageId })...)
	add(optionalIDCases(rl, "dispute_id", validRuling, func(m *mvmv1.Ruling) *string { return &m.DisputeId })...)
	add(textCases(rl, "decision", validRuling, func(m *mvmv1.Ruling) *string { return &m.Decision }, true, message.MaxText)...)

	const rp = "report publication"
	add(headerCases(rp, validPublication, func(m *mvmv1.ReportPublication) **mvmv1.Header { return &m.Header })...)
	for _, c := range []struct {
		name, month, field string
	}{
		{"January", "2026-01", ""}, {"December", "2026-12", ""}, {"empty", "", "month"}, {"month 13", "2026-13", "month"},
		{"month 00", "2026-00", "month"}, {"one digit", "2026-1", "month"}, {"a day", "2026-11-01", "month"},
		{"words", "November 2026", "month"}, {"trailing newline", "2026-11\n", "month"},
	} {
		add(at(rp+": month "+c.name, validPublication, func(m *mvmv1.ReportPublication) { m.Month = c.month }, c.field))
	}
	add(at(rp+": digest of 31 bytes", validPublication, func(m *mvmv1.ReportPublication) { m.ReportSha256 = m.ReportSha256[:31] }, "report_sha256"),
		at(rp+": no digest", validPublication, func(m *mvmv1.ReportPublication) { m.ReportSha256 = nil }, "report_sha256"),
		at(rp+": checkpoint size 0", validPublication, func(m *mvmv1.ReportPublication) { m.CheckpointSize = 0 }, "checkpoint_size"),
		at(rp+": checkpoint size 1", validPublication, func(m *mvmv1.ReportPublication) { m.CheckpointSize = 1 }, ""),
		at(rp+": root of 33 bytes", validPublication, func(m *mvmv1.ReportPublication) { m.CheckpointRoot = append(m.CheckpointRoot, 0) }, "checkpoint_root"),
		at(rp+": no root", validPublication, func(m *mvmv1.ReportPublication) { m.CheckpointRoot = nil }, "checkpoint_root"))

	// Not a payload, though it has a header.
	add(vcase{"cosignature is not a payload", func() proto.Message { return &mvmv1.Cosignature{Header: hdr()} }, "payload_type"})
	return cs
}

func TestValidate(t *testing.T) {
	seen := map[string]bool{}
	for _, tc := range validationCases() {
		if seen[tc.name] {
			t.Fatalf("duplicate case name %q", tc.name)
		}
		seen[tc.name] = true
		t.Run(tc.name, func(t *testing.T) {
			// proto.Clone would turn -0 into +0; build the message twice.
			before, msg := tc.build(), tc.build()
			err := message.Validate(msg)
			if !proto.Equal(before, msg) {
				t.Errorf("Validate modified its input")
			}
			if tc.field == "" {
				if err != nil {
					t.Fatalf("Validate: got %v, want nil", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Validate: got nil, want a FieldError for %s", tc.field)
			}
			var fe *message.FieldError
			if !errors.As(err, &fe) {
				t.Fatalf("Validate: got %T %v, want *message.FieldError", err, err)
			}
			if fe.Field != tc.field {
				t.Errorf("FieldError.Field: got %v, want %v (%v)", fe.Field, tc.field, err)
			}
			if !errors.Is(err, message.ErrInvalid) {
				t.Errorf("Validate: got %v, want errors.Is(err, ErrInvalid)", err)
			}
			if !strings.HasPrefix(err.Error(), tc.field+": ") || fe.Reason == "" {
				t.Errorf("Error(): got %q, want %q followed by a reason", err.Error(), tc.field+": ")
			}
		})
	}
}

// Every payload type is covered by the validation table.
func TestValidateCoversEveryType(t *testing.T) {
	covered := map[string]bool{}
	for _, tc := range validationCases() {
		if tc.field != "" {
			covered[message.TypeOf(tc.build())] = true
		}
	}
	for _, m := range allValid() {
		if typ := message.TypeOf(m); !covered[typ] {
			t.Errorf("no failing validation case for %s", typ)
		}
	}
}

func TestHeaderAndPackageID(t *testing.T) {
	for _, m := range allValid() {
		if got := message.Header(m); got == nil || got.MessageId != "msg-1" {
			t.Errorf("Header(%s): got %v, want message id msg-1", message.TypeOf(m), got)
		}
	}
	if got := message.Header(&mvmv1.Envelope{}); got != nil {
		t.Errorf("Header(Envelope): got %v, want nil", got)
	}
	tests := []struct {
		m    proto.Message
		want string
	}{
		{validTarget(), "msg-1"},
		{validAck(), "pkg-1"},
		{validRFI(), "pkg-1"},
		{validResponse(), "pkg-1"},
		{validReport(), "pkg-1"},
		{validEvidence(), "pkg-1"},
		{validWithdrawal(), "pkg-1"},
		{validFinding(), "pkg-1"},
		{validDispute(), "pkg-1"},
		{validRuling(), "pkg-1"},
		{validAgreement(), ""},
		{validPublication(), ""},
		{&mvmv1.TargetPackage{}, ""},
	}
	for _, tt := range tests {
		if got := message.PackageID(tt.m); got != tt.want {
			t.Errorf("PackageID(%s): got %v, want %v", message.TypeOf(tt.m), got, tt.want)
		}
	}
}

func TestValidID(t *testing.T) {
	tests := []struct {
		s    string
		want bool
	}{
		{"a", true},
		{"A-1.b_c", true},
		{"0", true},
		{strN(64), true},
		{strN(65), false},
		{"", false},
		{"-a", false},
		{".a", false},
		{"_a", false},
		{"a b", false},
		{"a/b", false},
		{"a\n", false},
		{"ä", false},
	}
	for _, tt := range tests {
		if got := message.ValidID(tt.s); got != tt.want {
			t.Errorf("ValidID(%q) = %v, want %v", tt.s, got, tt.want)
		}
	}
}

// TestValidIDPattern checks ValidID against the regular expression it
// stands for, on every one- and two-byte string and on the lengths around
// its bound.
func TestValidIDPattern(t *testing.T) {
	pattern := regexp.MustCompile(message.IDPattern)
	check := func(s string) {
		if got, want := message.ValidID(s), pattern.MatchString(s); got != want {
			t.Errorf("ValidID(%q) = %v, want %v (the pattern)", s, got, want)
		}
	}
	check("")
	for a := range 256 {
		check(string([]byte{byte(a)}))
		for b := range 256 {
			check(string([]byte{byte(a), byte(b)}))
		}
	}
	for _, n := range []int{63, 64, 65, 100} {
		for _, c := range []string{"a", "-", "Z9._-", "a\x00"} {
			s := strings.Repeat(c, n)
			check(s[:min(len(s), n)])
			check("a" + s[:min(len(s), n-1)])
		}
	}
}

// FuzzValidID: ValidID, which checks bytes by hand, accepts exactly what
// message.IDPattern matches.
func FuzzValidID(f *testing.F) {
	for _, s := range []string{"a", "A-1.b_c", strN(64), strN(65), "", "-a", "a b", "a/b", "a\n", "ä", "a\x00", "Z9", "a" + strN(63) + "\n"} {
		f.Add(s)
	}
	re := regexp.MustCompile(message.IDPattern)
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := message.ValidID(s), re.MatchString(s); got != want {
			t.Errorf("ValidID(%q) = %v, the pattern %s says %v", s, got, message.IDPattern, want)
		}
	})
}

var fuzzTypes = []string{
	message.TypeAgreement, message.TypeTargetPackage, message.TypeAcknowledgement,
	message.TypeRequestForInformation, message.TypeInformationResponse, message.TypeActionReport,
	message.TypeEvidenceSubmission, message.TypeWithdrawal, message.TypeVerificationFinding,
	message.TypeDispute, message.TypeRuling, "mvm.v1.Cosignature",
}

func FuzzDecodeValidate(f *testing.F) {
	for i, m := range allValid() {
		f.Add(uint8(i), mustMarshal(f, m))
	}
	f.Add(uint8(1), append(mustMarshal(f, validTarget()), unknownField()...))
	f.Add(uint8(5), []byte{})
	f.Add(uint8(11), mustMarshal(f, validAck()))
	f.Add(uint8(200), []byte("garbage"))
	f.Fuzz(func(t *testing.T, typeIndex uint8, b []byte) {
		typ := fuzzTypes[int(typeIndex)%len(fuzzTypes)]
		m, err := message.Decode(typ, b)
		if err != nil {
			if m != nil {
				t.Fatalf("Decode returned a message with error %v", err)
			}
			if !errors.Is(err, message.ErrInvalid) && !errors.Is(err, message.ErrUnknownType) {
				t.Fatalf("Decode error %v wraps neither ErrInvalid nor ErrUnknownType", err)
			}
			return
		}
		if got := message.TypeOf(m); got != typ {
			t.Fatalf("Decode(%s) returned a %s", typ, got)
		}
		_ = message.Header(m)
		_ = message.PackageID(m)
		if err := message.Validate(m); err != nil {
			var fe *message.FieldError
			if !errors.As(err, &fe) || !errors.Is(err, message.ErrInvalid) || fe.Field == "" {
				t.Fatalf("Validate error %v is not a FieldError wrapping ErrInvalid", err)
			}
			return
		}
		// A valid message names a valid package (agreements name none).
		if typ != message.TypeAgreement && !message.ValidID(message.PackageID(m)) {
			t.Fatalf("valid %s with package id %q", typ, message.PackageID(m))
		}
	})
}
