package ledger_test

import (
	"bytes"
	"crypto/x509"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/mvm-exchange/mvm/internal/entry"
	"github.com/mvm-exchange/mvm/internal/identity"
	"github.com/mvm-exchange/mvm/internal/ledger"
	"github.com/mvm-exchange/mvm/internal/store"
	"github.com/mvm-exchange/mvm/internal/tlog"
	"github.com/mvm-exchange/mvm/internal/verify"
	"github.com/mvm-exchange/mvm/internal/workflow"
)

// verifiedLog runs the verifier a mediator node runs (bounded) over the
// fixture's log and returns each entry with what it computed: the leaf
// hash (Options.Node), the package states around it and the encoding of
// the state after it (Options.Reduced).
func verifiedLog(t *testing.T, f *fixture) []ledger.Verified {
	t.Helper()
	genesis, err := os.ReadFile(filepath.Join(f.dir, "agreement.envelope"))
	if err != nil {
		t.Fatal(err)
	}
	var out []ledger.Verified
	var leafHash []byte
	var reducedAt uint64
	var before, after *workflow.Package
	var afterCompact []byte
	v, err := verify.New(verify.Options{Genesis: genesis, Bounded: true, TempDir: t.TempDir(), BoundedCache: 2,
		Certificate: f.st.Certificate,
		Node: func(id tlog.NodeID, hash []byte) {
			if id.Level == 0 {
				leafHash = hash
			}
		},
		Reduced: func(index uint64, b, a *workflow.Package, ac []byte) {
			reducedAt, before, after, afterCompact = index, b, a, ac
		},
		Visit: func(index uint64, o *entry.Opened) error {
			e := ledger.Verified{Opened: o, LeafHash: leafHash}
			if after != nil && reducedAt == index {
				e.Before, e.After, e.AfterCompact = before, after, afterCompact
			}
			out = append(out, e)
			leafHash, before, after, afterCompact = nil, nil, nil, nil
			return nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	if err := f.st.Leaves(0, f.l.Size(), func(_ uint64, leaf []byte) error { return v.Push(bytes.Clone(leaf)) }); err != nil {
		t.Fatal(err)
	}
	if err := v.Flush(); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestReplicateVerifiedIndexes: a replica given the verifier's package
// states (ReplicateVerified, no second run of the reducer) stores the
// package-state index, byte for byte, and the package and message-id
// indexes the primary's writer stored, whatever the cut into batches: a
// package's entries within one batch and across several, states changed
// twice in a batch, batches of new packages whose state and entry keys
// are merged in one bucket.
func TestReplicateVerifiedIndexes(t *testing.T) {
	f := newFixture(t, store.Options{})
	ids := workload(t, f)
	want := dumpPackageIndex(t, f.st)
	entries := verifiedLog(t, f)
	if uint64(len(entries)) != f.l.Size() {
		t.Fatalf("the verifier visited %d entries of %d", len(entries), f.l.Size())
	}
	if !slices.ContainsFunc(entries, func(e ledger.Verified) bool { return e.Before != nil }) {
		t.Fatal("no entry of an existing package in the log")
	}
	if !slices.ContainsFunc(entries, func(e ledger.Verified) bool { return e.AfterCompact != nil }) {
		t.Fatal("the verifier handed no state's encoding")
	}
	certs := map[string][]byte{}
	for _, e := range entries[1:] {
		sha := e.Entry.PeerCertificateSha256
		der, err := f.st.Certificate(sha)
		if err != nil {
			t.Fatal(err)
		}
		certs[string(sha)] = der
	}
	for _, piece := range []uint64{1, 4, 37, uint64(len(entries))} {
		t.Run("", func(t *testing.T) {
			st, err := store.Open(filepath.Join(t.TempDir(), "replica.db"), store.Options{NoSync: true})
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			r, err := ledger.OpenReplica(ledger.ReplicaConfig{Store: st, Origin: f.l.Origin()})
			if err != nil {
				t.Fatal(err)
			}
			for from := uint64(0); from < uint64(len(entries)); {
				end := min(from+piece, uint64(len(entries)))
				size, cp, err := f.st.CheckpointAtMost(end)
				if err != nil {
					t.Fatal(err)
				}
				if size > from {
					end = size
				} else {
					cp = nil // a batch no checkpoint covers yet
				}
				if err := r.ReplicateVerified(entries[from:end], cp, certs); err != nil {
					t.Fatalf("piece of %d, [%d, %d): %v", piece, from, end, err)
				}
				from = end
			}
			if got := dumpPackageIndex(t, st); got != want {
				t.Errorf("pieces of %d: the replica's package-state index\n%s\nthe primary's\n%s", piece, got, want)
			}
			for _, id := range ids {
				got, err := st.PackageIndexes(id)
				if err != nil {
					t.Fatal(err)
				}
				w, err := f.st.PackageIndexes(id)
				if err != nil {
					t.Fatal(err)
				}
				if !slices.Equal(got, w) {
					t.Errorf("pieces of %d: package %s's entries %v, the primary's %v", piece, id, got, w)
				}
			}
			for _, e := range entries[1:] {
				c, err := x509.ParseCertificate(certs[string(e.Entry.PeerCertificateSha256)])
				if err != nil {
					t.Fatal(err)
				}
				author, err := identity.Parse(c)
				if err != nil {
					t.Fatal(err)
				}
				got, ok, err := st.MessageIndex(author.URI(), e.MessageID())
				if err != nil || !ok || got != e.Index() {
					t.Errorf("pieces of %d: message id of entry %d: %d, %v, %v", piece, e.Index(), got, ok, err)
				}
			}
		})
	}
}
