package message

import (
	"bytes"
	"slices"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/timestamppb"

	mvmv1 "github.com/mvm-exchange/mvm/proto/mvm/v1"
)

// sameHeader reports whether Redact(full) equals header without its
// sealed_body and package_keys: every field of headerFields is set in
// both or in neither, with equal values (protoreflect.Value.Equal, the
// comparison of proto.Equal), and header holds no sensitive field. It
// compares in place, with no copy of either message (an audit calls it
// for every sealed entry). full carries no seal (Open checked).
//
// The sealable types are compared field by field through their generated
// structs (reflection cost an audit 5 % of its CPU); what they do not
// cover (an evidence submission, whose sensitive fields are nested, and
// any type not listed) goes to sameHeaderReflect, which reads the
// descriptors. TestSameHeaderEveryField holds both to the same answers
// for every field of every sealable type, at every depth it fills, so a
// field added to a payload and not compared here fails it.
func sameHeader(full, header proto.Message) bool {
	switch f := full.(type) {
	case *mvmv1.TargetPackage:
		h, ok := header.(*mvmv1.TargetPackage)
		return ok && len(h.GetLocations()) == 0 && h.GetSuspectedGroup() == "" && h.GetSummary() == "" &&
			sameMessageHeader(f.GetHeader(), h.GetHeader()) && f.GetPriority() == h.GetPriority() && f.GetTlp() == h.GetTlp() &&
			sameDigests(f.GetEvidenceSha256(), h.GetEvidenceSha256()) && f.GetResponder() == h.GetResponder()
	case *mvmv1.Acknowledgement:
		h, ok := header.(*mvmv1.Acknowledgement)
		return ok && h.GetNote() == "" &&
			sameMessageHeader(f.GetHeader(), h.GetHeader()) && f.GetPackageId() == h.GetPackageId()
	case *mvmv1.RequestForInformation:
		h, ok := header.(*mvmv1.RequestForInformation)
		return ok && h.GetQuestion() == "" &&
			sameMessageHeader(f.GetHeader(), h.GetHeader()) && f.GetPackageId() == h.GetPackageId()
	case *mvmv1.InformationResponse:
		h, ok := header.(*mvmv1.InformationResponse)
		return ok && h.GetAnswer() == "" &&
			sameMessageHeader(f.GetHeader(), h.GetHeader()) && f.GetPackageId() == h.GetPackageId() &&
			f.GetRequestId() == h.GetRequestId() && sameDigests(f.GetEvidenceSha256(), h.GetEvidenceSha256())
	case *mvmv1.ActionReport:
		h, ok := header.(*mvmv1.ActionReport)
		return ok && h.GetNote() == "" &&
			sameMessageHeader(f.GetHeader(), h.GetHeader()) && f.GetPackageId() == h.GetPackageId() &&
			f.GetOutcome() == h.GetOutcome() && sameTimestamp(f.GetActionTime(), h.GetActionTime()) &&
			sameCounts(f.GetCounts(), h.GetCounts()) && sameDigests(f.GetEvidenceSha256(), h.GetEvidenceSha256())
	case *mvmv1.Withdrawal:
		h, ok := header.(*mvmv1.Withdrawal)
		return ok && h.GetReason() == "" &&
			sameMessageHeader(f.GetHeader(), h.GetHeader()) && f.GetPackageId() == h.GetPackageId()
	case *mvmv1.VerificationFinding:
		h, ok := header.(*mvmv1.VerificationFinding)
		return ok && h.GetReason() == "" &&
			sameMessageHeader(f.GetHeader(), h.GetHeader()) && f.GetPackageId() == h.GetPackageId() &&
			f.GetVerdict() == h.GetVerdict() && sameDigests(f.GetEvidenceSha256(), h.GetEvidenceSha256())
	case *mvmv1.Dispute:
		h, ok := header.(*mvmv1.Dispute)
		return ok && h.GetReason() == "" &&
			sameMessageHeader(f.GetHeader(), h.GetHeader()) && f.GetPackageId() == h.GetPackageId() &&
			f.GetFindingId() == h.GetFindingId()
	case *mvmv1.Ruling:
		h, ok := header.(*mvmv1.Ruling)
		return ok && sameMessageHeader(f.GetHeader(), h.GetHeader()) && f.GetPackageId() == h.GetPackageId() &&
			f.GetDisputeId() == h.GetDisputeId() && f.GetDecision() == h.GetDecision()
	}
	return sameHeaderReflect(full, header)
}

// sameMessageHeader, sameTimestamp and sameCounts compare two nested
// messages as protoreflect.Value.Equal does: both absent, or both present
// with equal fields and equal unknown fields (a message holding unknown
// fields goes to Value.Equal itself; Decode refuses them anyway).
func sameMessageHeader(x, y *mvmv1.Header) bool {
	if x == nil || y == nil || hasUnknownBytes(x, y) {
		return sameNested(x, y)
	}
	return x.MessageId == y.MessageId && sameTimestamp(x.AuthoredAt, y.AuthoredAt)
}

func sameTimestamp(x, y *timestamppb.Timestamp) bool {
	if x == nil || y == nil || hasUnknownBytes(x, y) {
		return sameNested(x, y)
	}
	return x.Seconds == y.Seconds && x.Nanos == y.Nanos
}

func sameCounts(x, y *mvmv1.ActionCounts) bool {
	if x == nil || y == nil || hasUnknownBytes(x, y) {
		return sameNested(x, y)
	}
	return x.Arrested == y.Arrested && x.Killed == y.Killed && x.Injured == y.Injured &&
		x.WeaponsSeized == y.WeaponsSeized
}

// sameNested is the reflective comparison of two nested messages of one
// type, either of which may be a nil pointer (absent).
func sameNested[M interface {
	*mvmv1.Header | *timestamppb.Timestamp | *mvmv1.ActionCounts
	proto.Message
}](x, y M) bool {
	if x == nil || y == nil {
		return x == nil && y == nil
	}
	return protoreflect.ValueOfMessage(x.ProtoReflect()).Equal(protoreflect.ValueOfMessage(y.ProtoReflect()))
}

func hasUnknownBytes(x, y proto.Message) bool {
	return len(x.ProtoReflect().GetUnknown()) > 0 || len(y.ProtoReflect().GetUnknown()) > 0
}

// sameDigests compares two repeated bytes fields as Value.Equal does.
func sameDigests(x, y [][]byte) bool { return slices.EqualFunc(x, y, bytes.Equal) }

// headerFields lists, per sealable type, the fields sameHeaderReflect
// compares: all but the sealing's and the sensitive ones.
var headerFields = func() map[string][]protoreflect.FieldDescriptor {
	m := map[string][]protoreflect.FieldDescriptor{}
	for typ, names := range Sensitive {
		skip := map[protoreflect.Name]bool{sealedBodyField: true, packageKeysField: true}
		for _, n := range names {
			skip[n] = true
		}
		fields := constructors[typ]().ProtoReflect().Descriptor().Fields()
		for i := range fields.Len() {
			if fd := fields.Get(i); !skip[fd.Name()] {
				m[typ] = append(m[typ], fd)
			}
		}
	}
	return m
}()

// sameHeaderReflect is sameHeader by the descriptors: for the types
// sameHeader does not compare itself, and the reference its own
// comparisons are tested against.
func sameHeaderReflect(full, header proto.Message) bool {
	if _, ok := full.(*mvmv1.EvidenceSubmission); ok {
		// Its files' sensitive fields are nested: redact a copy.
		return proto.Equal(Redact(full), withoutSeal(header))
	}
	typ := TypeOf(full)
	fields, ok := headerFields[typ]
	fr, hr := full.ProtoReflect(), header.ProtoReflect()
	if !ok || hr.Descriptor() != fr.Descriptor() {
		return false // never sealed, or not the same type
	}
	// A sensitive field in the header is not compared: it must be
	// refused here all the same (Validate refuses it too).
	for _, n := range Sensitive[typ] {
		if hr.Has(hr.Descriptor().Fields().ByName(n)) {
			return false
		}
	}
	for _, fd := range fields {
		if fr.Has(fd) != hr.Has(fd) || !fr.Get(fd).Equal(hr.Get(fd)) {
			return false
		}
	}
	return true
}
