package witness_test

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/mod/sumdb/note"

	"github.com/mvm-exchange/mvm/internal/testenv"
	"github.com/mvm-exchange/mvm/internal/tlog"
	"github.com/mvm-exchange/mvm/internal/witness"
	mvmv1 "github.com/mvm-exchange/mvm/proto/mvm/v1"
)

// TestHandler walks the witness side through the protocol's answers, in
// order, over HTTP, with checkpoints and proofs of a real log: each refusal
// changes nothing, a cosignature comes only after the state is saved, and
// a restarted witness remembers.
func TestHandler(t *testing.T) {
	dir := pki(t)
	skey, vkey := newWitnessKey(t, dir, ours)
	e := testenv.Start(t, dir, filepath.Join(t.TempDir(), "mvm.db"))
	appendN(t, e, 4) // sizes 1 (the agreement) to 5
	api := e.Client(testenv.Mediator).API
	cps := map[uint64][]byte{}
	for s := uint64(1); s <= 5; s++ {
		r, err := api.GetCheckpoint(ctxT(t), &mvmv1.GetCheckpointRequest{Size: s})
		if err != nil {
			t.Fatal(err)
		}
		cps[s] = r.Checkpoint
	}
	proof := func(from, to uint64) [][]byte {
		r, err := api.GetConsistencyProof(ctxT(t), &mvmv1.GetConsistencyProofRequest{From: from, To: to})
		if err != nil {
			t.Fatal(err)
		}
		return r.Hashes
	}
	logSigner, logKey := logKeys(t, dir)
	root := sha256.Sum256([]byte("another tree"))
	fork, err := tlog.SignCheckpoint(logSigner, logKey.Name(), 3, root[:])
	if err != nil {
		t.Fatal(err)
	}
	otherSKey, _, err := tlog.GenerateLogKey(logKey.Name())
	if err != nil {
		t.Fatal(err)
	}
	otherSigner, _ := note.NewSigner(otherSKey)
	forged, err := tlog.SignCheckpoint(otherSigner, logKey.Name(), 3, root[:])
	if err != nil {
		t.Fatal(err)
	}
	strangerSKey, _, err := tlog.GenerateLogKey("stranger.example/log")
	if err != nil {
		t.Fatal(err)
	}
	strangerSigner, _ := note.NewSigner(strangerSKey)
	stranger, err := tlog.SignCheckpoint(strangerSigner, "stranger.example/log", 3, root[:])
	if err != nil {
		t.Fatal(err)
	}
	tampered := proof(3, 5)
	tampered[0] = append([]byte(nil), tampered[0]...)
	tampered[0][0] ^= 1

	state := filepath.Join(t.TempDir(), "witness.state")
	h := ourWitness(t, dir, skey, state)
	var allowUpTo uint64 = 1 << 62
	h.Allow = func(_ context.Context, cp *tlog.Checkpoint) error {
		if cp.Size > allowUpTo {
			return fmt.Errorf("verified up to %d: %w", allowUpTo, witness.ErrNotYet)
		}
		return nil
	}
	w := serve(t, h)
	c := &witness.Client{Target: witness.Target{Name: ours, URL: w.URL()}, Key: vkey}
	savedSize := func() string {
		b, err := witness.FileState(state).Load()
		if err != nil {
			t.Fatal(err)
		}
		if b == nil {
			return "none"
		}
		return strings.Split(string(b), "\n")[1]
	}

	type step struct {
		name    string
		old     uint64
		proof   [][]byte
		cp      []byte
		allow   uint64 // the hook's limit
		want    error  // nil: cosigned
		conflct int64  // want a ConflictError of this size (≥ 0)
		saved   string // the saved size afterwards
	}
	none := int64(-1)
	for _, s := range []step{
		{"unknown origin", 0, nil, stranger, 1 << 62, witness.ErrUnknownLog, none, "none"},
		{"not signed by the log key", 0, nil, forged, 1 << 62, witness.ErrForbidden, none, "none"},
		{"old size beyond the checkpoint", 5, nil, cps[3], 1 << 62, witness.ErrStatus, none, "none"},
		{"old size not the witness's", 2, proof(2, 3), cps[3], 1 << 62, nil, 0, "none"},
		{"first checkpoint", 0, nil, cps[3], 1 << 62, nil, none, "3"},
		{"same checkpoint again", 3, nil, cps[3], 1 << 62, nil, none, "3"},
		{"same size, another root (a fork)", 3, nil, fork, 1 << 62, nil, 3, "3"},
		{"a proof that does not verify", 3, tampered, cps[5], 1 << 62, witness.ErrInconsistent, none, "3"},
		{"the owner has not verified that far", 3, proof(3, 5), cps[5], 4, witness.ErrStatus, none, "3"},
		{"consistent", 3, proof(3, 5), cps[5], 5, nil, none, "5"},
		{"back to an older size", 5, nil, cps[3], 1 << 62, witness.ErrStatus, none, "5"},
	} {
		allowUpTo = s.allow
		lines, err := c.AddCheckpoint(ctxT(t), s.old, s.proof, s.cp)
		var conflict *witness.ConflictError
		switch {
		case s.conflct >= 0:
			if !errors.As(err, &conflict) || conflict.Size != uint64(s.conflct) {
				t.Errorf("%s: got %v, want a 409 with size %d", s.name, err, s.conflct)
			}
		case s.want != nil:
			if !errors.Is(err, s.want) {
				t.Errorf("%s: got %v, want %v", s.name, err, s.want)
			}
		case err != nil:
			t.Errorf("%s: %v", s.name, err)
		case len(lines) != 1:
			t.Errorf("%s: got %d cosignature lines, want 1", s.name, len(lines))
		}
		if got := savedSize(); got != s.saved {
			t.Errorf("%s: saved size %s, want %s", s.name, got, s.saved)
		}
	}

	// A 409 says the size in the form the protocol fixes.
	resp, err := http.Post(w.URL()+"/add-checkpoint", "text/plain", strings.NewReader("old 1\n"+strings.Repeat("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n", 1)+"\n"+string(cps[3])))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusConflict || resp.Header.Get("Content-Type") != "text/x.tlog.size" || string(body) != "5\n" {
		t.Errorf("409: got %s, %q, %q; want 409, text/x.tlog.size, \"5\\n\"", resp.Status, resp.Header.Get("Content-Type"), body)
	}
	for _, bad := range []string{"", "old 01\n\n" + string(cps[3]), "old 0\nAAAA\n\n" + string(cps[3]), "new 0\n\n" + string(cps[3])} {
		resp, err := http.Post(w.URL()+"/add-checkpoint", "text/plain", strings.NewReader(bad))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("request %q: got %s, want 400", bad, resp.Status)
		}
	}

	// A restarted witness knows the size it cosigned last.
	h2 := ourWitness(t, dir, skey, state)
	w2 := serve(t, h2)
	c2 := &witness.Client{Target: witness.Target{Name: ours, URL: w2.URL()}, Key: vkey}
	var conflict *witness.ConflictError
	if _, err := c2.AddCheckpoint(ctxT(t), 0, nil, cps[5]); !errors.As(err, &conflict) || conflict.Size != 5 {
		t.Errorf("restarted witness, old size 0: got %v, want a 409 with size 5", err)
	}
}
