package ledger_test

import (
	"bytes"
	"context"
	"path/filepath"
	"testing"

	"golang.org/x/mod/sumdb/note"

	"github.com/mvm-exchange/mvm/internal/entry"
	"github.com/mvm-exchange/mvm/internal/ledger"
	"github.com/mvm-exchange/mvm/internal/store"
	"github.com/mvm-exchange/mvm/internal/tlog"
)

// TestReplicateCheckpoint: a replica takes a checkpoint only if the log
// key signed it for the entries given, and stores it with the log's
// signature alone, whatever other signature lines it came with.
func TestReplicateCheckpoint(t *testing.T) {
	f := newFixture(t, store.Options{})
	if _, err := f.l.Append(context.Background(), f.seal(t, "pk-liaison", target()), f.cert("pk-liaison")); err != nil {
		t.Fatal(err)
	}
	head := f.l.Head()
	var entries []*entry.Opened
	if err := f.st.Leaves(0, head.Size, func(_ uint64, leaf []byte) error {
		o, err := entry.Open(bytes.Clone(leaf))
		entries = append(entries, o)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	certs := map[string][]byte{}
	for _, o := range entries {
		sha := o.Entry.PeerCertificateSha256
		if der, err := f.st.Certificate(sha); err == nil {
			certs[string(sha)] = der
		}
	}
	cp, _, err := tlog.OpenCheckpoint(head.Checkpoint, head.Agreement.LogOrigin, mustVerifier(t, head.Agreement.LogKey))
	if err != nil {
		t.Fatal(err)
	}

	// A cosignature line (any key's) after the log's signature.
	cskey, _, err := tlog.GenerateCosignerKey("someone.example")
	if err != nil {
		t.Fatal(err)
	}
	line, err := tlog.Cosign(cskey, head.Checkpoint, head.Agreement.LogOrigin, mustVerifier(t, head.Agreement.LogKey))
	if err != nil {
		t.Fatal(err)
	}
	cosigned, err := tlog.AddCosignatures(head.Checkpoint, []string{line})
	if err != nil {
		t.Fatal(err)
	}
	// The same text signed by another key.
	otherKey, _, err := note.GenerateKey(nil, head.Agreement.LogOrigin)
	if err != nil {
		t.Fatal(err)
	}
	otherSigner, err := note.NewSigner(otherKey)
	if err != nil {
		t.Fatal(err)
	}
	forged, err := tlog.SignCheckpoint(otherSigner, head.Agreement.LogOrigin, cp.Size, cp.Hash)
	if err != nil {
		t.Fatal(err)
	}

	st, err := store.Open(filepath.Join(t.TempDir(), "replica.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	r, err := ledger.OpenReplica(ledger.ReplicaConfig{Store: st, Origin: head.Agreement.LogOrigin})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Replicate(entries, forged, certs); err == nil {
		t.Fatal("a checkpoint of another key was taken")
	}
	if r.Size() != 0 {
		t.Fatalf("the refused call stored %d entries", r.Size())
	}
	if err := r.Replicate(entries, cosigned, certs); err != nil {
		t.Fatal(err)
	}
	_, stored, err := st.LatestCheckpoint()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(stored, head.Checkpoint) {
		t.Errorf("stored checkpoint:\n%s\nwant the log's signature only:\n%s", stored, head.Checkpoint)
	}
}

func mustVerifier(t *testing.T, vkey string) note.Verifier {
	t.Helper()
	v, err := note.NewVerifier(vkey)
	if err != nil {
		t.Fatal(err)
	}
	return v
}
