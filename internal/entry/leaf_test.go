package entry_test

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/mvm-exchange/mvm/internal/entry"
)

// TestDecodeLeafShared: DecodeLeafShared and DecodeLeaf agree (the same
// error, or entries proto.Equal) on leaves as the server writes them and
// on every damage and other encoding of them tried here: each byte
// flipped, each length cut, fields repeated, out of order, of another
// wire type or unknown, a receive time with negative nanos or unknown
// fields. A leaf as the server writes it is not copied: its envelope is a
// slice of the leaf.
func TestDecodeLeafShared(t *testing.T) {
	fp := bytes.Repeat([]byte{0xab}, 32)
	env := bytes.Repeat([]byte("envelope "), 20)
	mk := func(index uint64, at time.Time, env, fp []byte) []byte {
		t.Helper()
		l, err := entry.NewLeaf(index, at, env, fp)
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	server := [][]byte{
		mk(5, at, env, fp),
		mk(0, at, env, nil),
		mk(1<<40, time.Unix(0, 0), env, fp),
		mk(7, time.Unix(1, 999_999_999), []byte{1}, fp),
	}
	for i, l := range server {
		e, err := entry.DecodeLeafShared(l)
		if err != nil {
			t.Fatalf("server leaf %d: %v", i, err)
		}
		if &e.Envelope[0] != &l[len(l)-len(e.Envelope)-len(e.PeerCertificateSha256)-tagLen(e.PeerCertificateSha256)] {
			t.Errorf("server leaf %d: the envelope is a copy, not a slice of the leaf", i)
		}
	}

	field := func(num protowire.Number, typ protowire.Type, v []byte) []byte {
		b := protowire.AppendTag(nil, num, typ)
		if typ == protowire.BytesType {
			return protowire.AppendBytes(b, v)
		}
		return append(b, v...)
	}
	varint := func(v uint64) []byte { return protowire.AppendVarint(nil, v) }
	ts := func(parts ...[]byte) []byte { return field(2, protowire.BytesType, bytes.Join(parts, nil)) }
	idx := field(1, protowire.VarintType, varint(5))
	recv := ts(field(1, protowire.VarintType, varint(1_700_000_000)), field(2, protowire.VarintType, varint(5)))
	envF := field(3, protowire.BytesType, env)
	fpF := field(4, protowire.BytesType, fp)
	cases := map[string][]byte{
		"in order":              cat(idx, recv, envF, fpF),
		"out of order":          cat(envF, idx, recv, fpF),
		"envelope twice":        cat(idx, recv, envF, envF, fpF),
		"index twice":           cat(idx, field(1, protowire.VarintType, varint(6)), recv, envF, fpF),
		"receive time twice":    cat(idx, recv, ts(field(2, protowire.VarintType, varint(9))), envF, fpF),
		"unknown field":         cat(idx, recv, envF, fpF, field(9, protowire.VarintType, varint(1))),
		"index as bytes":        cat(field(1, protowire.BytesType, []byte{5}), recv, envF, fpF),
		"envelope as varint":    cat(idx, recv, field(3, protowire.VarintType, varint(3)), fpF),
		"empty envelope":        cat(idx, recv, field(3, protowire.BytesType, nil), fpF),
		"empty fingerprint":     cat(idx, recv, envF, field(4, protowire.BytesType, nil)),
		"no receive time":       cat(idx, envF, fpF),
		"empty receive time":    cat(idx, ts(), envF, fpF),
		"negative nanos":        cat(idx, ts(field(2, protowire.VarintType, varint(uint64(1<<64-5)))), envF, fpF),
		"nanos before seconds":  cat(idx, ts(field(2, protowire.VarintType, varint(5)), field(1, protowire.VarintType, varint(7))), envF, fpF),
		"receive time unknown":  cat(idx, ts(field(1, protowire.VarintType, varint(7)), field(3, protowire.VarintType, varint(1))), envF, fpF),
		"seconds as fixed64":    cat(idx, ts(field(1, protowire.Fixed64Type, make([]byte, 8))), envF, fpF),
		"huge seconds":          cat(idx, ts(field(1, protowire.VarintType, varint(1<<62))), envF, fpF),
		"field number zero":     cat([]byte{0x00, 0x01}, recv, envF, fpF),
		"empty":                 nil,
		"index zero explicitly": cat(field(1, protowire.VarintType, varint(0)), recv, envF),
	}
	for i, l := range server {
		cases[fmt.Sprint("server leaf ", i)] = l
		for j := range l {
			flipped := bytes.Clone(l)
			flipped[j] ^= 0x41
			cases[fmt.Sprintf("server leaf %d, byte %d flipped", i, j)] = flipped
			cases[fmt.Sprintf("server leaf %d, cut at %d", i, j)] = l[:j]
		}
	}
	shared := 0
	for name, l := range cases {
		want, wantErr := entry.DecodeLeaf(l)
		got, gotErr := entry.DecodeLeafShared(bytes.Clone(l))
		if fmt.Sprint(wantErr) != fmt.Sprint(gotErr) || !proto.Equal(want, got) {
			t.Errorf("%s: DecodeLeafShared gives %v, %v; DecodeLeaf %v, %v", name, got, gotErr, want, wantErr)
		}
		if gotErr == nil {
			// Slices of the input at most, each capped at its end: an
			// append to one writes over none of the input.
			in := bytes.Clone(l)
			got, _ := entry.DecodeLeafShared(in)
			_ = append(got.Envelope, bytes.Repeat([]byte{0xee}, 8)...)
			_ = append(got.PeerCertificateSha256, bytes.Repeat([]byte{0xee}, 8)...)
			if !bytes.Equal(in, l) {
				t.Errorf("%s: appending to a decoded field wrote over the leaf", name)
			}
			shared++
		}
	}
	if shared < 10 {
		t.Errorf("only %d cases decode: the comparison tests little", shared)
	}
}

func cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

// tagLen is the length of the tag and length prefix of the last field of
// a leaf, the fingerprint, if present.
func tagLen(fp []byte) int {
	if len(fp) == 0 {
		return 0
	}
	return 1 + protowire.SizeVarint(uint64(len(fp)))
}
