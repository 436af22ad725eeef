package message

import (
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	mvmv1 "github.com/mvm-exchange/mvm/proto/mvm/v1"
)

// hasUnknownTyped is hasUnknown through the generated structs of the
// payload types an exchange's log is mostly made of (reading the
// descriptors cost an audit 3 % of its CPU: every payload is decoded,
// a sealed one twice). ok is false for the other types, which
// hasUnknownReflect reads. TestHasUnknownEveryMessage sets unknown
// fields in every message of every payload type, at every depth it
// fills, so a message field added to a payload and not visited here
// fails it.
func hasUnknownTyped(m proto.Message) (has, ok bool) {
	switch m := m.(type) {
	case *mvmv1.TargetPackage:
		if unknownIn(m) || headerUnknown(m.GetHeader()) {
			return true, true
		}
		for _, l := range m.GetLocations() {
			if unknownIn(l) {
				return true, true
			}
		}
		for _, w := range m.GetPackageKeys() {
			if unknownIn(w) {
				return true, true
			}
		}
		return false, true
	case *mvmv1.ActionReport:
		return unknownIn(m) || headerUnknown(m.GetHeader()) ||
			unknownIn(m.GetActionTime()) || unknownIn(m.GetCounts()), true
	case *mvmv1.Acknowledgement:
		return unknownIn(m) || headerUnknown(m.GetHeader()), true
	case *mvmv1.RequestForInformation:
		return unknownIn(m) || headerUnknown(m.GetHeader()), true
	case *mvmv1.InformationResponse:
		return unknownIn(m) || headerUnknown(m.GetHeader()), true
	case *mvmv1.Withdrawal:
		return unknownIn(m) || headerUnknown(m.GetHeader()), true
	case *mvmv1.VerificationFinding:
		return unknownIn(m) || headerUnknown(m.GetHeader()), true
	case *mvmv1.Dispute:
		return unknownIn(m) || headerUnknown(m.GetHeader()), true
	case *mvmv1.Ruling:
		return unknownIn(m) || headerUnknown(m.GetHeader()), true
	}
	return false, false
}

func headerUnknown(h *mvmv1.Header) bool {
	return unknownIn(h) || unknownIn(h.GetAuthoredAt())
}

// unknownIn reports whether m itself (not the messages inside it) holds
// unknown fields; a nil m is an absent field and holds none.
func unknownIn[M interface {
	*mvmv1.TargetPackage | *mvmv1.ActionReport | *mvmv1.Acknowledgement |
		*mvmv1.RequestForInformation | *mvmv1.InformationResponse | *mvmv1.Withdrawal |
		*mvmv1.VerificationFinding | *mvmv1.Dispute | *mvmv1.Ruling |
		*mvmv1.Header | *timestamppb.Timestamp | *mvmv1.Location | *mvmv1.WrappedKey |
		*mvmv1.ActionCounts
	proto.Message
}](m M) bool {
	return m != nil && len(m.ProtoReflect().GetUnknown()) > 0
}
