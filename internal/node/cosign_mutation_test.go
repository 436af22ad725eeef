package node_test

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/mvm-exchange/mvm/internal/devpki"
	"github.com/mvm-exchange/mvm/internal/store"
	"github.com/mvm-exchange/mvm/internal/testenv"
	"github.com/mvm-exchange/mvm/internal/tlog"
	mvmv1 "github.com/mvm-exchange/mvm/proto/mvm/v1"
)

// TestCosignatureCopierOnlyListedValid: the node copies from the primary
// only cosignature lines that verify under a key the agreement lists for
// their name. The primary's store holds, besides the node's own witness
// line, a line under the listed witness name qa-node by another key, and
// a line under a name the agreement does not list at all; then tr's
// mediator cosigns. The primary serves the lines sorted by name, so both
// bad lines come before tr-verifier's in every pass of the node's copier:
// once tr-verifier's line is on the node, the copier has judged them.
func TestCosignatureCopierOnlyListedValid(t *testing.T) {
	w := newWitnessed(t, nil)
	submit(t, w.primary, 3)
	caughtUp(t, w.primary, w.node)
	n, ok := w.cosignedBy(t, 10*time.Second)
	if !ok {
		t.Fatalf("the primary's checkpoint of size %d is not cosigned by the node", n)
	}
	read := func(name string) string {
		b, err := os.ReadFile(filepath.Join(w.primary.Certs, name))
		if err != nil {
			t.Fatal(err)
		}
		return strings.TrimSpace(string(b))
	}
	logKey, err := note.NewVerifier(read("log.vkey"))
	if err != nil {
		t.Fatal(err)
	}
	tr := w.primary.Client(testenv.Mediator)
	resp, err := tr.API.GetCheckpoint(ctxT(t), &mvmv1.GetCheckpointRequest{Size: n})
	if err != nil {
		t.Fatal(err)
	}
	forge := func(name string) string {
		skey, _, err := tlog.GenerateCosignerKey(name)
		if err != nil {
			t.Fatal(err)
		}
		line, err := tlog.Cosign(skey, resp.Checkpoint, devpki.DefaultLogOrigin, logKey)
		if err != nil {
			t.Fatal(err)
		}
		return line
	}
	wrongKey, unlisted := forge("qa-node"), forge("aa-witness")
	w.primary.Stop()
	st, err := store.Open(w.primary.DB, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for name, line := range map[string]string{"qa-node": wrongKey, "aa-witness": unlisted} {
		if err := st.AddCosignature(n, name, line); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	w.primary.Restart()

	tr = w.primary.Client(testenv.Mediator)
	good, err := tlog.Cosign(read(testenv.Mediator+".cosign.key"), resp.Checkpoint, devpki.DefaultLogOrigin, logKey)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tr.API.AddCosignature(ctxT(t), &mvmv1.AddCosignatureRequest{Checkpoint: resp.Checkpoint, SignatureLine: good}); err != nil {
		t.Fatal(err)
	}
	served, err := tr.API.GetCheckpoint(ctxT(t), &mvmv1.GetCheckpointRequest{Size: n})
	if err != nil {
		t.Fatal(err)
	}
	if lines := cosignatureLines(served.Checkpoint); !slices.Contains(lines, wrongKey) || !slices.Contains(lines, unlisted) ||
		slices.Index(lines, unlisted) > slices.Index(lines, good) || slices.Index(lines, wrongKey) > slices.Index(lines, good) {
		t.Fatalf("the primary serves %q: want both bad lines before tr-verifier's (the case tests nothing otherwise)", lines)
	}

	node := w.node.Client(testenv.Mediator)
	deadline := time.Now().Add(15 * time.Second)
	for {
		got, err := node.API.GetCheckpoint(ctxT(t), &mvmv1.GetCheckpointRequest{Size: n})
		if err != nil {
			t.Fatal(err)
		}
		lines := cosignatureLines(got.Checkpoint)
		if slices.Contains(lines, wrongKey) {
			t.Fatalf("the node copied a line under a listed name that does not verify under that name's key: %q", lines)
		}
		if slices.Contains(lines, unlisted) {
			t.Fatalf("the node copied a line under a name the agreement does not list: %q", lines)
		}
		if slices.Contains(lines, good) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the node's checkpoint of size %d carries %q, want tr-verifier's cosignature copied", n, lines)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
