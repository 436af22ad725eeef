package workflow_test

import (
	"errors"
	"testing"

	"github.com/mvm-exchange/mvm/internal/workflow"
	mvmv1 "github.com/mvm-exchange/mvm/proto/mvm/v1"
)

// TestBounds: each per-package bound admits exactly its number and refuses
// the next with ErrBound; the state Apply copies stays bounded however long
// the history grows.
func TestBounds(t *testing.T) {
	f := newFixture(t)
	start := func(t *testing.T) (*world, *workflow.Package) {
		w := newWorld(t, f.ag)
		p := w.must(nil, pk, w.target(pkgID))
		return w, w.must(p, af, w.ack(pkgID)).Compact()
	}

	t.Run("open requests", func(t *testing.T) {
		w, p := start(t)
		for range workflow.MaxOpenRequests {
			p = w.must(p, af, w.rfi(pkgID))
		}
		if _, err := w.apply(p, af, w.rfi(pkgID)); !errors.Is(err, workflow.ErrBound) {
			t.Fatalf("request %d: got %v, want %v", workflow.MaxOpenRequests+1, err, workflow.ErrBound)
		}
		p = w.must(p, pk, w.answer(pkgID, ""))
		p = w.must(p, af, w.rfi(pkgID)) // one answered, one more may be asked
		// Asking and answering many times keeps only the open requests.
		for range 200 {
			p = w.must(p, pk, w.answer(pkgID, "")).Compact()
			p = w.must(p, af, w.rfi(pkgID)).Compact()
		}
		if n := len(p.Requests); n != workflow.MaxOpenRequests {
			t.Errorf("requests kept after 200 cycles: %d, want %d (the open ones)", n, workflow.MaxOpenRequests)
		}
	})

	t.Run("entries per party", func(t *testing.T) {
		w, p := start(t)
		p = w.must(p, af, w.report(pkgID, mvmv1.Outcome_OUTCOME_ARRESTS, true)).Compact()
		for p.Entries["af"] < workflow.MaxEntriesPerParty {
			next, err := workflow.Apply(f.ag, p, w.input(af, w.evidence(pkgID)))
			if err != nil {
				t.Fatalf("evidence %d: %v", p.Entries["af"]+1, err)
			}
			p = next.Compact()
		}
		_, err := w.apply(p, af, w.evidence(pkgID))
		if !errors.Is(err, workflow.ErrBound) {
			t.Fatalf("entry %d by af: got %v, want %v", workflow.MaxEntriesPerParty+1, err, workflow.ErrBound)
		}
		// The responder's flood does not use up anyone else's allowance.
		p = w.must(p, tr, w.finding(pkgID, mvmv1.Verdict_VERDICT_CONTRADICTED))
		w.must(p, pk, w.dispute(pkgID, ""))
	})

	t.Run("findings", func(t *testing.T) {
		w, p := start(t)
		p = w.must(p, af, w.report(pkgID, mvmv1.Outcome_OUTCOME_NOT_FOUND, false))
		for range workflow.MaxFindings {
			p = w.must(p, tr, w.finding(pkgID, mvmv1.Verdict_VERDICT_INCONCLUSIVE)).Compact()
		}
		if _, err := w.apply(p, qa, w.finding(pkgID, mvmv1.Verdict_VERDICT_CONFIRMED)); !errors.Is(err, workflow.ErrBound) {
			t.Fatalf("finding %d: got %v, want %v", workflow.MaxFindings+1, err, workflow.ErrBound)
		}
	})
}
