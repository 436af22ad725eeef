// Package message decodes and validates the payloads that travel inside
// envelopes: target packages, acknowledgements, action reports and the rest
// of the workflow's message set.
//
// Guarantees:
//   - [Decode] accepts only the known payload types and rejects payloads with
//     fields this version does not understand, so the reducer never acts on
//     a message it only partly read.
//   - [Validate] checks every field against the limits below and names the
//     offending field in its error ([FieldError], wrapping [ErrInvalid]).
//   - Sealed bodies: [Sensitive] is the one list of what a sealed payload
//     carries only in its body; [Redact] clears exactly it. [Validate] of a
//     sealed payload demands those fields empty and the body bounded.
//     [SealPackage] / [SealMessage] / [SealMessagePayload] validate before
//     sealing, and check that the bytes to sign without sealed_body are
//     the associated data the body was sealed with; [Open] gives back a
//     full payload only if its body opens with the package key, with the
//     header's exact bytes as associated data, is valid and is what the
//     header shows; otherwise [ErrFault], the author's signed fault.
//
// The package is pure: no I/O, no gRPC, no storage.
package message

import (
	"errors"
	"fmt"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	mvmv1 "github.com/mvm-exchange/mvm/proto/mvm/v1"
)

// Errors a caller may branch on.
var (
	// ErrInvalid means a field is missing, malformed or out of bounds.
	ErrInvalid = errors.New("invalid message")
	// ErrUnknownType means the payload type is not one this system knows.
	ErrUnknownType = errors.New("unknown payload type")
)

// FieldError names the field that failed validation.
type FieldError struct {
	Field  string
	Reason string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Reason }

// Unwrap makes errors.Is(err, ErrInvalid) true.
func (e *FieldError) Unwrap() error { return ErrInvalid }

func fieldErr(field, format string, args ...any) error {
	return &FieldError{Field: field, Reason: fmt.Sprintf(format, args...)}
}

// Payload types, the full protobuf names of the payload messages.
var (
	TypeAgreement             = TypeOf(&mvmv1.Agreement{})
	TypeTargetPackage         = TypeOf(&mvmv1.TargetPackage{})
	TypeAcknowledgement       = TypeOf(&mvmv1.Acknowledgement{})
	TypeRequestForInformation = TypeOf(&mvmv1.RequestForInformation{})
	TypeInformationResponse   = TypeOf(&mvmv1.InformationResponse{})
	TypeActionReport          = TypeOf(&mvmv1.ActionReport{})
	TypeEvidenceSubmission    = TypeOf(&mvmv1.EvidenceSubmission{})
	TypeWithdrawal            = TypeOf(&mvmv1.Withdrawal{})
	TypeVerificationFinding   = TypeOf(&mvmv1.VerificationFinding{})
	TypeDispute               = TypeOf(&mvmv1.Dispute{})
	TypeRuling                = TypeOf(&mvmv1.Ruling{})
	TypeReportPublication     = TypeOf(&mvmv1.ReportPublication{})
)

// TypeOf returns the payload type of a message: its full protobuf name.
func TypeOf(m proto.Message) string { return string(m.ProtoReflect().Descriptor().FullName()) }

var constructors = map[string]func() proto.Message{
	TypeAgreement:             func() proto.Message { return &mvmv1.Agreement{} },
	TypeTargetPackage:         func() proto.Message { return &mvmv1.TargetPackage{} },
	TypeAcknowledgement:       func() proto.Message { return &mvmv1.Acknowledgement{} },
	TypeRequestForInformation: func() proto.Message { return &mvmv1.RequestForInformation{} },
	TypeInformationResponse:   func() proto.Message { return &mvmv1.InformationResponse{} },
	TypeActionReport:          func() proto.Message { return &mvmv1.ActionReport{} },
	TypeEvidenceSubmission:    func() proto.Message { return &mvmv1.EvidenceSubmission{} },
	TypeWithdrawal:            func() proto.Message { return &mvmv1.Withdrawal{} },
	TypeVerificationFinding:   func() proto.Message { return &mvmv1.VerificationFinding{} },
	TypeDispute:               func() proto.Message { return &mvmv1.Dispute{} },
	TypeRuling:                func() proto.Message { return &mvmv1.Ruling{} },
	TypeReportPublication:     func() proto.Message { return &mvmv1.ReportPublication{} },
}

// Decode parses payload as the message named by payloadType.
func Decode(payloadType string, payload []byte) (proto.Message, error) {
	newMsg, ok := constructors[payloadType]
	if !ok {
		return nil, fmt.Errorf("%w %q", ErrUnknownType, payloadType)
	}
	m := newMsg()
	if err := proto.Unmarshal(payload, m); err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrInvalid, payloadType, err)
	}
	if !hasUnknown(m) {
		return m, nil // the usual case: no paths to build
	}
	if path := unknownFields(m.ProtoReflect(), ""); path != "" {
		return nil, fmt.Errorf("%w: %s has fields this server does not understand (at %q)", ErrInvalid, payloadType, path)
	}
	return m, nil
}

// hasUnknown reports whether m or a message inside it holds unknown
// fields. It visits only the fields that can hold messages (messageFields:
// every payload is checked, by the auditor twice when sealed).
func hasUnknown(m proto.Message) bool {
	if has, ok := hasUnknownTyped(m); ok {
		return has
	}
	return hasUnknownReflect(m.ProtoReflect())
}

// hasUnknownReflect is hasUnknown by the descriptors, for every type.
func hasUnknownReflect(m protoreflect.Message) bool {
	if len(m.GetUnknown()) > 0 {
		return true
	}
	fds, ok := messageFields[m.Descriptor().FullName()]
	if !ok {
		panic("message: hasUnknown of " + string(m.Descriptor().FullName()) + ", not reached from a payload type")
	}
	for _, fd := range fds {
		if !m.Has(fd) {
			continue
		}
		if !fd.IsList() {
			if hasUnknownReflect(m.Get(fd).Message()) {
				return true
			}
			continue
		}
		l := m.Get(fd).List()
		for i := range l.Len() {
			if hasUnknownReflect(l.Get(i).Message()) {
				return true
			}
		}
	}
	return false
}

// messageFields lists, for every message type a payload can hold, its
// fields of message type (maps aside: no payload uses them).
var messageFields = func() map[protoreflect.FullName][]protoreflect.FieldDescriptor {
	m := map[protoreflect.FullName][]protoreflect.FieldDescriptor{}
	var add func(md protoreflect.MessageDescriptor)
	add = func(md protoreflect.MessageDescriptor) {
		if _, ok := m[md.FullName()]; ok {
			return
		}
		m[md.FullName()] = nil // a type that holds itself ends here
		var fds []protoreflect.FieldDescriptor
		fields := md.Fields()
		for i := range fields.Len() {
			if fd := fields.Get(i); fd.Message() != nil && !fd.IsMap() {
				fds = append(fds, fd)
				add(fd.Message())
			}
		}
		m[md.FullName()] = fds
	}
	for _, newMsg := range constructors {
		add(newMsg().ProtoReflect().Descriptor())
	}
	return m
}()

// unknownFields returns the path of the first message holding unknown
// fields, or "" if there is none.
func unknownFields(m protoreflect.Message, path string) string {
	if len(m.GetUnknown()) > 0 {
		if path == "" {
			return "."
		}
		return path
	}
	found := ""
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		if fd.Message() == nil {
			return true
		}
		name := path + "." + string(fd.Name())
		switch {
		case fd.IsList():
			l := v.List()
			for i := 0; i < l.Len() && found == ""; i++ {
				found = unknownFields(l.Get(i).Message(), fmt.Sprintf("%s[%d]", name, i))
			}
		case fd.IsMap():
			// No payload uses maps.
		default:
			found = unknownFields(v.Message(), name)
		}
		return found == ""
	})
	return found
}

// Header returns the header of any payload message, nil if it has none.
func Header(m proto.Message) *mvmv1.Header {
	if h, ok := m.(interface{ GetHeader() *mvmv1.Header }); ok {
		return h.GetHeader()
	}
	return nil
}

// PackageID returns the package a payload concerns: a target package's own
// id (its message id) or the package_id it refers to. Empty for agreements
// and report publications, which concern no package.
func PackageID(m proto.Message) string {
	if tp, ok := m.(*mvmv1.TargetPackage); ok {
		return tp.GetHeader().GetMessageId()
	}
	if p, ok := m.(interface{ GetPackageId() string }); ok {
		return p.GetPackageId()
	}
	return ""
}

// IDPattern is what [ValidID] accepts, as a regular expression. ValidID
// checks it byte by byte instead: every append, every sealed message an
// author validates and every opened body checks ids, and the regexp
// engine cost a sealing client several % of its CPU.
const IDPattern = `^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`

// ValidID reports whether s is a well-formed message or package id:
// 1 to 64 bytes of [A-Za-z0-9._-], the first a letter or digit.
func ValidID(s string) bool {
	if len(s) == 0 || len(s) > 64 || !alnum(s[0]) {
		return false
	}
	for i := 1; i < len(s); i++ {
		if c := s[i]; !alnum(c) && c != '.' && c != '_' && c != '-' {
			return false
		}
	}
	return true
}

func alnum(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
}

func itoa(i int) string { return fmt.Sprint(i) }
