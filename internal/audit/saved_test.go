package audit_test

import (
	"bytes"
	"errors"
	"io"
	"maps"
	"slices"
	"testing"

	"github.com/mvm-exchange/mvm/internal/audit"
	"github.com/mvm-exchange/mvm/internal/entry"
	"github.com/mvm-exchange/mvm/internal/verify"
	mvmv1 "github.com/mvm-exchange/mvm/proto/mvm/v1"
)

// memSaved keeps a verifier state in memory.
type memSaved struct {
	b      []byte
	stores int
}

func (m *memSaved) Load() (io.ReadCloser, error) {
	if m.b == nil {
		return nil, nil
	}
	return io.NopCloser(bytes.NewReader(m.b)), nil
}

func (m *memSaved) Store(save func(io.Writer) error) error {
	var buf bytes.Buffer
	if err := save(&buf); err != nil {
		return err
	}
	m.b, m.stores = buf.Bytes(), m.stores+1
	return nil
}

// TestSavedState: a run with Options.Saved resumes the state the run
// before kept and verifies only the entries after it, and knows every
// package's entries all the same; a state past the checkpoint, or
// damaged, is refused and not replaced.
func TestSavedState(t *testing.T) {
	x := newExchange(t)
	x.populate(t)
	cp, signed := x.checkpoint(t)
	resp, err := x.tr.API.GetCheckpoint(ctxT(t), &mvmv1.GetCheckpointRequest{Size: 5})
	if err != nil {
		t.Fatal(err)
	}
	saved := &memSaved{}
	var visited []uint64
	o := audit.Options{AgreementsOnly: true, Members: true, Saved: saved,
		Visit: func(i uint64, _ *entry.Opened) error { visited = append(visited, i); return nil }}
	if _, err := audit.VerifyLog(ctxT(t), x.tr, resp.Checkpoint, x.v, nil, x.proof(t), o); err != nil {
		t.Fatal(err)
	}
	visited = nil
	ver, err := audit.VerifyLog(ctxT(t), x.tr, signed, x.v, nil, x.proof(t), o)
	if err != nil {
		t.Fatalf("resumed: %v", err)
	}
	if saved.stores != 2 || len(visited) != int(cp.Size)-5 || visited[0] != 5 {
		t.Errorf("stores %d, visited %v: want the entries from 5 to %d only", saved.stores, visited, cp.Size)
	}
	whole, err := audit.VerifyLog(ctxT(t), x.tr, signed, x.v, nil, x.proof(t), audit.Options{AgreementsOnly: true, Members: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(whole.Members) == 0 || !maps.EqualFunc(ver.Members, whole.Members, slices.Equal) {
		t.Errorf("members resumed %v, of one run %v", ver.Members, whole.Members)
	}

	// At the same checkpoint: nothing to verify, nothing written.
	visited = nil
	if _, err := audit.VerifyLog(ctxT(t), x.tr, signed, x.v, nil, x.proof(t), o); err != nil || len(visited) != 0 || saved.stores != 2 {
		t.Errorf("again at size %d: %v, visited %v, %d stores", cp.Size, err, visited, saved.stores)
	}
	// Past the checkpoint: refused, the state kept as it was.
	kept := bytes.Clone(saved.b)
	if _, err := audit.VerifyLog(ctxT(t), x.tr, resp.Checkpoint, x.v, nil, x.proof(t), o); !errors.Is(err, audit.ErrSavedAhead) {
		t.Errorf("a state past the checkpoint: %v", err)
	}
	// Damaged: refused.
	saved.b[len(saved.b)/2] ^= 1
	if _, err := audit.VerifyLog(ctxT(t), x.tr, signed, x.v, nil, x.proof(t), o); !errors.Is(err, verify.ErrState) {
		t.Errorf("a damaged state: %v", err)
	}
	if saved.stores != 2 || bytes.Equal(saved.b, kept) {
		t.Errorf("a refused state was replaced (%d stores)", saved.stores)
	}
}

// proof asks the server for consistency proofs.
func (x *exchange) proof(t *testing.T) audit.ProofFunc {
	return func(from, to uint64) ([][]byte, error) {
		r, err := x.tr.API.GetConsistencyProof(ctxT(t), &mvmv1.GetConsistencyProofRequest{From: from, To: to})
		return r.GetHashes(), err
	}
}
