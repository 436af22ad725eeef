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
	last := protowire.Number(0)
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		// Repeated signatures follow one another; every other field
		// comes once, in order.
		if n < 0 || num < last || (num == last && num != 3) || typ != protowire.BytesType {
			return nil, false
		}
		last = num
		v, m := protowire.ConsumeBytes(b[n:])
		if m < 0 {
			return nil, false
		}
		b = b[n+m:]
		switch num {
		case 1:
			if !utf8.Valid(v) {
				return nil, false
			}
			env.PayloadType = string(v)
		case 2:
			env.Payload = sharedBytes(v)
		case 3:
			s, ok := decodeCanonicalSignature(v)
			if !ok {
				return nil, false
			}
			env.Signatures = append(env.Signatures, s)
		default:
			return nil, false
		}
	}
	return env, true
}

func decodeCanonicalSignature(b []byte) (*mvmv1.Signature, bool) {
	s := &mvmv1.Signature{}
	last := protowire.Number(0)
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 || num <= last || typ != protowire.BytesType {
			return nil, false
		}
		last = num
		v, m := protowire.ConsumeBytes(b[n:])
		if m < 0 {
			return nil, false
		}
		b = b[n+m:]
		switch num {
		case 1:
			if !utf8.Valid(v) {
				return nil, false
			}
			s.Keyid = string(v)
		case 2:
			s.Sig = sharedBytes(v)
		case 3:
			s.Certificate = sharedBytes(v)
		default:
			return nil, false
		}
	}
	return s, true
}

// sharedBytes is v as proto.Unmarshal sets a proto3 bytes field: nil if
// empty; its capacity cut, so that nothing appends over what follows.
func sharedBytes(v []byte) []byte {
	if len(v) == 0 {
		return nil
	}
	return v[:len(v):len(v)]
}
