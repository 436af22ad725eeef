package service

import (
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/mvm-exchange/mvm/internal/ledger"
	"github.com/mvm-exchange/mvm/internal/message"
)

// TestPageTokenBounds: a token decodes only for its kind and query, and a
// well-formed token for the right query (as a client who learnt the format
// could make) must still hold a position of the query's kind.
func TestPageTokenBounds(t *testing.T) {
	query := []string{"af", ""}
	good := (&token{kind: tokenList, query: query}).next([]byte("p1"))
	forged := (&token{kind: tokenList, query: query}).next(append(ledger.ListPrefix("ir", ""), "p1"...))
	for _, tc := range []struct {
		name  string
		tok   string
		kind  byte
		query []string
		ok    bool
	}{
		{"first page", "", tokenList, query, true},
		{"next page", good, tokenList, query, true},
		{"another kind", good, tokenBreaches, query, false},
		{"another query", good, tokenList, []string{"af", "submitted"}, false},
		{"another scope", good, tokenList, []string{"ir", ""}, false},
		{"truncated", good[:len(good)-2], tokenList, query, false},
		{"not a package id", forged, tokenList, query, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tok, err := readToken(tc.tok, tc.kind, tc.query)
			if err == nil {
				_, err = tok.after(func(pos []byte) bool { return message.ValidID(string(pos)) })
			}
			if tc.ok && err != nil {
				t.Fatalf("refused: %v", err)
			}
			if !tc.ok && status.Code(err) != codes.InvalidArgument {
				t.Fatalf("got %v, want InvalidArgument", err)
			}
		})
	}
}
