package entry

import (
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/types/known/timestamppb"

	mvmv1 "github.com/mvm-exchange/mvm/proto/mvm/v1"
)

// DecodeLeafShared is [DecodeLeaf] (the same checks, errors and decoded
// values) but for one thing: the entry's byte fields (its envelope and
// certificate digest) are slices of leaf, not copies, so leaf must not
// change while the entry is used. An audit decodes some 3 KB of envelope
// an entry; it keeps every leaf until the entry is checked (an
// [Opened] holds its leaf anyway), and the copy cost it more than the
// rest of the layer's decoding.
//
// A leaf encoded as the server encodes one (fields in order, each at most
// once, no others) is decoded here; any other form, valid or not, is left
// to proto.Unmarshal, which copies: the two agree on every input
// (TestDecodeLeafShared).
func DecodeLeafShared(leaf []byte) (*mvmv1.Entry, error) {
	e, ok := decodeCanonicalLeaf(leaf)
	if !ok {
		return DecodeLeaf(leaf)
	}
	if err := checkLeaf(e); err != nil {
		return nil, leafError(err)
	}
	return e, nil
}

// decodeCanonicalLeaf decodes an Entry whose fields are in field order,
// each at most once, and whose receive time holds only its seconds and
// nanos, in order: the form proto.Marshal gives. ok is false for any other
// form.
func decodeCanonicalLeaf(b []byte) (e *mvmv1.Entry, ok bool) {
	e = &mvmv1.Entry{}
	last := protowire.Number(0)
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 || num <= last {
			return nil, false
		}
		last = num
		b = b[n:]
		switch {
		case num == 1 && typ == protowire.VarintType:
			v, n := protowire.ConsumeVarint(b)
			if n < 0 {
				return nil, false
			}
			e.Index, b = v, b[n:]
		case num == 2 && typ == protowire.BytesType:
			v, n := protowire.ConsumeBytes(b)
			if n < 0 {
				return nil, false
			}
			if e.ReceivedAt, ok = decodeCanonicalTimestamp(v); !ok {
				return nil, false
			}
			b = b[n:]
		case (num == 3 || num == 4) && typ == protowire.BytesType:
			v, n := protowire.ConsumeBytes(b)
			if n < 0 {
				return nil, false
			}
			if len(v) == 0 {
				v = nil // as proto.Unmarshal leaves an empty proto3 bytes field
			} else {
				v = v[:len(v):len(v)]
			}
			if num == 3 {
				e.Envelope = v
			} else {
				e.PeerCertificateSha256 = v
			}
			b = b[n:]
		default:
			return nil, false
		}
	}
	return e, true
}

func decodeCanonicalTimestamp(b []byte) (*timestamppb.Timestamp, bool) {
	t := &timestamppb.Timestamp{}
	last := protowire.Number(0)
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 || num <= last || typ != protowire.VarintType || num > 2 {
			return nil, false
		}
		last = num
		b = b[n:]
		v, n := protowire.ConsumeVarint(b)
		if n < 0 {
			return nil, false
		}
		b = b[n:]
		if num == 1 {
			t.Seconds = int64(v)
		} else {
			t.Nanos = int32(v)
		}
	}
	return t, true
}
