package audit_test

// Checks of the auditor that tampering with the stored bytes does not
// reach: each edit below leaves every other check passing, so only the
// check under test can fail the audit (issue 12, "guarantees no test
// pinned").

import (
	"bytes"
	"context"
	"crypto/x509"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/mvm-exchange/mvm/client/mvmclient"
	"github.com/mvm-exchange/mvm/internal/audit"
	"github.com/mvm-exchange/mvm/internal/devpki"
	"github.com/mvm-exchange/mvm/internal/entry"
	"github.com/mvm-exchange/mvm/internal/envelope"
	"github.com/mvm-exchange/mvm/internal/revocation"
)

// editedSource serves the log of a live server with some leaves replaced.
type editedSource struct {
	*mvmclient.Client
	edits map[uint64][]byte
}

func (s editedSource) Entries(ctx context.Context, start, end uint64, fn func(uint64, []byte) error) error {
	return s.Client.Entries(ctx, start, end, func(i uint64, leaf []byte) error {
		if e, ok := s.edits[i]; ok {
			leaf = e
		}
		return fn(i, leaf)
	})
}

// decodeLeaf decodes a leaf or fails the test.
func decodeLeaf(t *testing.T, leaf []byte) (uint64, time.Time, []byte, []byte) {
	t.Helper()
	e, err := entry.DecodeLeaf(leaf)
	if err != nil {
		t.Fatal(err)
	}
	return e.Index, e.ReceivedAt.AsTime(), e.Envelope, e.PeerCertificateSha256
}

// retimed is leaf with its receive time set to at.
func retimed(t *testing.T, leaf []byte, at time.Time) []byte {
	t.Helper()
	i, _, env, sha := decodeLeaf(t, leaf)
	out, err := entry.NewLeaf(i, at, env, sha)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// A well-formed envelope whose only fault is one bit of its signature:
// it parses, its payload is valid, its signer is the leaf's certificate.
// Only the signature verification can refuse it.
func TestAuditBadSignatureOnWellFormedEntry(t *testing.T) {
	x := newExchange(t)
	x.populate(t)
	leaves := x.leaves(t)
	for _, k := range []uint64{1, 30, x.size - 1} {
		i, at, raw, sha := decodeLeaf(t, leaves[k])
		env, err := envelope.Parse(raw)
		if err != nil {
			t.Fatal(err)
		}
		env.Signatures[0].Sig[7] ^= 0x10
		forged, err := proto.MarshalOptions{Deterministic: true}.Marshal(env)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := envelope.Parse(forged); err != nil {
			t.Fatalf("the forged envelope must stay well-formed: %v", err)
		}
		leaf, err := entry.NewLeaf(i, at, forged, sha)
		if err != nil {
			t.Fatal(err)
		}
		_, err = run(t, editedSource{x.tr, map[uint64][]byte{k: leaf}}, x.size, audit.Options{})
		wantEntryError(t, err, k, "signature")
	}
}

// Receive times never go backwards, even by less than the clock skew,
// which the author's signed time alone would allow.
func TestAuditReceiveTimeBackwardsWithinSkew(t *testing.T) {
	x := newExchange(t)
	x.populate(t)
	leaves := x.leaves(t)
	k := x.size - 3
	_, prev, _, _ := decodeLeaf(t, leaves[k-1])
	_, at, _, _ := decodeLeaf(t, leaves[k])
	back := prev.Add(-time.Millisecond)
	if at.Sub(back) >= time.Minute {
		t.Fatalf("entries %d and %d are %v apart: the re-timing must stay well within the skew", k-1, k, at.Sub(prev))
	}
	_, err := run(t, editedSource{x.tr, map[uint64][]byte{k: retimed(t, leaves[k], back)}}, x.size, audit.Options{})
	wantEntryError(t, err, k, "before the previous entry's")

	// Equal to the previous one is not backwards.
	if _, err := run(t, editedSource{x.tr, map[uint64][]byte{k: retimed(t, leaves[k], prev)}}, x.size, audit.Options{}); err != nil {
		t.Fatalf("receive time equal to the previous entry's: %v", err)
	}
}

// An entry received exactly at its signer's revocation time fails; one a
// nanosecond earlier passes and is listed. CRLs hold whole seconds, so the
// last entry is re-timed onto the revocation second (within the skew of
// its author's time and after the entry before it).
func TestAuditRevokedExactlyAtReceiveTime(t *testing.T) {
	x := newExchange(t)
	if err := devpki.Issue(x.env.Certs, "pk-second", "pk", devpki.IssueOptions{}); err != nil {
		t.Fatal(err)
	}
	c := x.env.Client("pk-second")
	first := x.add(t, c, target("before"))
	leaves := func() map[uint64][]byte {
		out := map[uint64][]byte{}
		if err := x.tr.Entries(ctxT(t), 0, 0, func(i uint64, leaf []byte) error { out[i] = bytes.Clone(leaf); return nil }); err != nil {
			t.Fatal(err)
		}
		return out
	}
	_, prev, _, _ := decodeLeaf(t, leaves()[first])
	revokedAt := prev.Truncate(time.Second).Add(time.Second)
	time.Sleep(time.Until(revokedAt) + 10*time.Millisecond)
	last := x.add(t, c, target("at the revocation"))
	leaf := leaves()[last]

	dir := copyFiles(t, x.env.Certs, "ca-pk.crt", "ca-pk.key", "pk-second.crt")
	if err := devpki.Revoke(dir, "pk-second", revokedAt); err != nil {
		t.Fatal(err)
	}
	rl, err := revocation.ReadFile(filepath.Join(dir, "crl-pk.pem"))
	if err != nil {
		t.Fatal(err)
	}
	o := audit.Options{CRLs: []*x509.RevocationList{rl}}

	_, err = run(t, editedSource{x.tr, map[uint64][]byte{last: retimed(t, leaf, revokedAt)}}, last+1, o)
	wantEntryError(t, err, last, "revoked")

	rep, err := run(t, editedSource{x.tr, map[uint64][]byte{last: retimed(t, leaf, revokedAt.Add(-time.Nanosecond))}}, last+1, o)
	if err != nil {
		t.Fatalf("entry received a nanosecond before the revocation: %v", err)
	}
	if want := []uint64{first, last}; !slices.Equal(rep.SignedBeforeRevocation, want) {
		t.Errorf("SignedBeforeRevocation = %v, want %v", rep.SignedBeforeRevocation, want)
	}
}
