package service

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"slices"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Page tokens are opaque to clients: the query they continue (kind and
// parameters, the caller's scope among them) and the position answered
// last (a package id, a breach's due time, package and deadline, or a log
// index), with a checksum. They carry no authority: the server derives the
// scope from the caller's certificate on every page, refuses a token made
// for another query or scope, and continues after the position inside the
// caller's own key ranges, so an edited token can at most skip part of
// what the caller may read anyway.

// Token kinds.
const (
	tokenList byte = iota + 1
	tokenBreaches
	tokenHistory
)

const tokenVersion = 1

type token struct {
	kind  byte
	query []string
	pos   []byte // the last key answered; nil before the first page
}

var errBadToken = status.Error(codes.InvalidArgument,
	"page_token: not a token this server issued for this query; repeat the query without page_token")

// readToken decodes s (empty: the first page) for a query of kind with the
// given parameters.
func readToken(s string, kind byte, query []string) (*token, error) {
	if s == "" {
		return &token{kind: kind, query: query}, nil
	}
	t, err := readAnyToken(s, kind)
	if err != nil {
		return nil, err
	}
	return t, t.check(query)
}

// readAnyToken decodes a token of kind whatever its query parameters.
func readAnyToken(s string, kind byte) (*token, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(b) < 2+sha256.Size/4 {
		return nil, errBadToken
	}
	body, sum := b[:len(b)-sha256.Size/4], b[len(b)-sha256.Size/4:]
	if h := sha256.Sum256(body); !bytes.Equal(h[:len(sum)], sum) || body[0] != tokenVersion || body[1] != kind {
		return nil, errBadToken
	}
	t := &token{kind: kind}
	rest := body[2:]
	field := func() ([]byte, error) {
		n, k := binary.Uvarint(rest)
		if k <= 0 || n > uint64(len(rest)-k) {
			return nil, errors.New("truncated")
		}
		f := rest[k : k+int(n)]
		rest = rest[k+int(n):]
		return f, nil
	}
	count, err := field()
	if err != nil || len(count) != 1 {
		return nil, errBadToken
	}
	for range count[0] {
		f, err := field()
		if err != nil {
			return nil, errBadToken
		}
		t.query = append(t.query, string(f))
	}
	if t.pos, err = field(); err != nil || len(rest) != 0 {
		return nil, errBadToken
	}
	return t, nil
}

// check refuses a token made for another query (or another caller scope).
func (t *token) check(query []string) error {
	if !slices.Equal(t.query, query) {
		return errBadToken
	}
	return nil
}

// after is the position to continue after (an index key's suffix): nil
// on the first page; valid says whether it has the shape of one.
func (t *token) after(valid func([]byte) bool) ([]byte, error) {
	if t.pos == nil {
		return nil, nil
	}
	if !valid(t.pos) {
		return nil, errBadToken
	}
	return t.pos, nil
}

// index is the log index to continue after (a history token), 0 at first.
func (t *token) index() (uint64, error) {
	if t.pos == nil {
		return 0, nil
	}
	if len(t.pos) != 8 {
		return 0, errBadToken
	}
	return binary.BigEndian.Uint64(t.pos), nil
}

func indexPosition(i uint64) []byte { return binary.BigEndian.AppendUint64(nil, i) }

// next is the token of the page after pos.
func (t *token) next(pos []byte) string {
	b := []byte{tokenVersion, t.kind}
	b = binary.AppendUvarint(b, 1)
	b = append(b, byte(len(t.query)))
	for _, q := range t.query {
		b = binary.AppendUvarint(b, uint64(len(q)))
		b = append(b, q...)
	}
	b = binary.AppendUvarint(b, uint64(len(pos)))
	b = append(b, pos...)
	h := sha256.Sum256(b)
	return base64.RawURLEncoding.EncodeToString(append(b, h[:sha256.Size/4]...))
}
