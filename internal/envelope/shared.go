package envelope

import (
	"unicode/utf8"

	"google.golang.org/protobuf/encoding/protowire"

	mvmv1 "github.com/mvm-exchange/mvm/proto/mvm/v1"
)

// ParseShared is [Parse] (the same checks, errors and decoded values) but
// for one thing: the envelope's byte fields (its payload, signatures and
// certificates) are slices of b, not copies, so b must not change while
// the envelope is used. An audit parses some 3 KB of envelope an entry
// and holds its leaf until the entry is checked anyway.
//
// An envelope encoded as proto.Marshal encodes one (fields in order, a
// field other than the signatures at most once, no others) is decoded
// here; any other form, valid or not, is left to Parse, which copies: the
// two agree on every input (TestParseShared).
func ParseShared(b []byte) (*mvmv1.Envelope, error) {
	env, ok := decodeCanonicalEnvelope(b)
	if !ok {
		return Parse(b)
	}
	return checkShape(env)
}

// decodeCanonicalEnvelope decodes an Envelope in the form proto.Marshal gives;
// ok is false for any other form.
func decodeCanonicalEnvelope(b []byte) (env *mvmv1.Envelope, ok bool) {
	env = &mvmv1.Envelope{}
	// Repeated signatures follow one another; every other field comes
	// once, in order.
	ok = canonicalBytesFields(b, 3, func(num protowire.Number, v []byte) bool {
		switch num {
		case 1:
			env.PayloadType = string(v)
			return utf8.Valid(v)
		case 2:
			env.Payload = sharedBytes(v)
		case 3:
			s, ok := decodeCanonicalSignature(v)
			env.Signatures = append(env.Signatures, s)
			return ok
		default:
			return false
		}
		return true
	})
	if !ok {
		return nil, false
	}
	return env, true
}

func decodeCanonicalSignature(b []byte) (*mvmv1.Signature, bool) {
	s := &mvmv1.Signature{}
	ok := canonicalBytesFields(b, 0, func(num protowire.Number, v []byte) bool {
		switch num {
		case 1:
			s.Keyid = string(v)
			return utf8.Valid(v)
		case 2:
			s.Sig = sharedBytes(v)
		case 3:
			s.Certificate = sharedBytes(v)
		default:
			return false
		}
		return true
	})
	return s, ok
}

// canonicalBytesFields calls fn with each field of b, a message whose
// fields are all of the bytes wire type, in the form proto.Marshal gives:
// field numbers never decrease, and only field repeated (0: none) comes
// more than once. It is false for any other form, or as soon as fn is.
func canonicalBytesFields(b []byte, repeated protowire.Number, fn func(num protowire.Number, v []byte) bool) bool {
	last := protowire.Number(0)
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 || num < last || (num == last && num != repeated) || typ != protowire.BytesType {
			return false
		}
		last = num
		v, m := protowire.ConsumeBytes(b[n:])
		if m < 0 || !fn(num, v) {
			return false
		}
		b = b[n+m:]
	}
	return true
}

// sharedBytes is v as proto.Unmarshal sets a proto3 bytes field: nil if
// empty; its capacity cut, so that nothing appends over what follows.
func sharedBytes(v []byte) []byte {
	if len(v) == 0 {
		return nil
	}
	return v[:len(v):len(v)]
}
