package message

import (
	"fmt"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	mvmv1 "github.com/mvm-exchange/mvm/proto/mvm/v1"
)

// Sensitive lists, per payload type, the fields a sealed message carries
// only in its sealed body: the one list of what is secret. Everything else
// is the cleartext header the reducer, the deadlines and the server need:
// ids and references, the author's time, priority, TLP, responder,
// outcome, verdict, action time and counts, evidence digests (the
// evidence store checks them), and a ruling's decision, which stays
// cleartext because a ruling is final when a quorum of mediators signed the
// same decision, which the server must compare.
var Sensitive = map[string][]protoreflect.Name{
	TypeTargetPackage:         {"locations", "suspected_group", "summary"},
	TypeAcknowledgement:       {"note"},
	TypeRequestForInformation: {"question"},
	TypeInformationResponse:   {"answer"},
	TypeActionReport:          {"note"},
	TypeEvidenceSubmission:    {"note"},
	TypeWithdrawal:            {"reason"},
	TypeVerificationFinding:   {"reason"},
	TypeDispute:               {"reason"},
	TypeRuling:                {},
}

// Field names of the sealing itself, in every sealable payload.
const (
	sealedBodyField  protoreflect.Name = "sealed_body"
	packageKeysField protoreflect.Name = "package_keys"
	// SealedBodyNumber is the field number of sealed_body in every
	// sealable payload; the associated data of a body is the payload's
	// bytes without it.
	SealedBodyNumber protoreflect.FieldNumber = 20
)

func init() {
	// A name in Sensitive that is not a field would leave it in the clear
	// without a word: refuse to start instead.
	for typ, names := range Sensitive {
		newMsg, ok := constructors[typ]
		if !ok {
			panic("message: Sensitive lists unknown type " + typ)
		}
		fields := newMsg().ProtoReflect().Descriptor().Fields()
		for _, n := range append(names, sealedBodyField) {
			if fields.ByName(n) == nil {
				panic(fmt.Sprintf("message: %s has no field %s", typ, n))
			}
		}
		if fields.ByName(sealedBodyField).Number() != SealedBodyNumber {
			panic("message: " + typ + ".sealed_body is not field 20")
		}
	}
}

// Sealable reports whether payloads of type typ have a sealed form (every
// package message; not agreements).
func Sealable(typ string) bool {
	_, ok := Sensitive[typ]
	return ok
}

// Redact returns a copy of m with its sensitive fields cleared: the
// cleartext header of m. Other fields, sealed_body and package_keys
// included, are kept.
func Redact(m proto.Message) proto.Message {
	c := proto.Clone(m)
	r := c.ProtoReflect()
	for _, n := range Sensitive[TypeOf(m)] {
		r.Clear(r.Descriptor().Fields().ByName(n))
	}
	redactFiles(c)
	return c
}

// SealedBody returns m's sealed body, nil if it has none.
func SealedBody(m proto.Message) []byte {
	fd := m.ProtoReflect().Descriptor().Fields().ByName(sealedBodyField)
	if fd == nil {
		return nil
	}
	return m.ProtoReflect().Get(fd).Bytes()
}

// IsSealed reports whether m carries a sealed body.
func IsSealed(m proto.Message) bool { return len(SealedBody(m)) > 0 }

// withoutSeal returns a copy of m without sealed_body and package_keys:
// what a body's plaintext holds besides the sensitive fields.
func withoutSeal(m proto.Message) proto.Message {
	c := proto.Clone(m)
	r := c.ProtoReflect()
	for _, n := range []protoreflect.Name{sealedBodyField, packageKeysField} {
		if fd := r.Descriptor().Fields().ByName(n); fd != nil {
			r.Clear(fd)
		}
	}
	return c
}

// PackageKeys returns the wrapped package keys of a target package.
func PackageKeys(m proto.Message) []*mvmv1.WrappedKey {
	if tp, ok := m.(*mvmv1.TargetPackage); ok {
		return tp.PackageKeys
	}
	return nil
}
