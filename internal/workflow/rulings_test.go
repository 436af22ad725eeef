package workflow_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/mvm-exchange/mvm/internal/identity"
	"github.com/mvm-exchange/mvm/internal/workflow"
	mvmv1 "github.com/mvm-exchange/mvm/proto/mvm/v1"
)

// disputed returns a package disputed by the submitter after acknowledgement.
func disputed(t *testing.T, w *world) *workflow.Package {
	t.Helper()
	p := w.must(nil, pk, w.target(pkgID))
	p = w.must(p, af, w.ack(pkgID))
	return w.must(p, pk, w.dispute(pkgID, ""))
}

func pending(p *workflow.Package) string { return fmt.Sprint(p.PendingRulings()) }

func TestRulingQuorum2(t *testing.T) {
	f := newFixture(t)

	t.Run("one mediator leaves it disputed, a second distinct one rules", func(t *testing.T) {
		w := newWorld(t, f.ag)
		p := disputed(t, w)
		if got, want := pending(p), "map[]"; got != want {
			t.Errorf("PendingRulings before any ruling: got %v, want %v", got, want)
		}
		p = w.must(p, tr, w.ruling(pkgID, p.Dispute.ID, "upheld"))
		if p.Status != workflow.StatusDisputed {
			t.Errorf("after one ruling: got %v, want %v", p.Status, workflow.StatusDisputed)
		}
		if got, want := pending(p), "map[upheld:[tr]]"; got != want {
			t.Errorf("PendingRulings: got %v, want %v", got, want)
		}
		if p.Dispute.Decision != "" || p.Dispute.RuledAt != 0 {
			t.Errorf("dispute decided below quorum: %+v", p.Dispute)
		}

		// The same mediator party again, same person or another one.
		for _, again := range []struct {
			name   string
			m      *mvmv1.Ruling
			author identity.Identity
		}{
			{"same person", w.ruling(pkgID, p.Dispute.ID, "upheld"), tr},
			{"another tr person", w.ruling(pkgID, "", "upheld"), tr2},
		} {
			_, err := w.apply(p, again.author, again.m)
			if !errors.Is(err, workflow.ErrAlreadyExists) {
				t.Errorf("%s rules again: got %v, want %v", again.name, err, workflow.ErrAlreadyExists)
			}
		}
		if p.Status != workflow.StatusDisputed || pending(p) != "map[upheld:[tr]]" {
			t.Errorf("after refused repeats: status %v pending %v, want disputed and map[upheld:[tr]]", p.Status, pending(p))
		}

		idx := w.idx + 1
		p = w.must(p, qa, w.ruling(pkgID, "", "upheld"))
		if p.Status != workflow.StatusRuled {
			t.Fatalf("after the second mediator: got %v, want %v", p.Status, workflow.StatusRuled)
		}
		if got, want := p.Dispute.Decision, "upheld"; got != want {
			t.Errorf("Decision: got %v, want %v", got, want)
		}
		if got, want := p.Dispute.RuledAt, idx; got != want {
			t.Errorf("RuledAt: got %v, want %v", got, want)
		}
		if got, want := pending(p), "map[upheld:[qa tr]]"; got != want {
			t.Errorf("PendingRulings: got %v, want %v", got, want)
		}
		// Ruled is final for rulings.
		if _, err := w.apply(p, tr, w.ruling(pkgID, "", "overturned")); !errors.Is(err, workflow.ErrPrecondition) {
			t.Errorf("ruling after the final one: got %v, want %v", err, workflow.ErrPrecondition)
		}
	})

	t.Run("two mediators with different decisions", func(t *testing.T) {
		w := newWorld(t, f.ag)
		p := disputed(t, w)
		p = w.must(p, tr, w.ruling(pkgID, "", "upheld"))
		p = w.must(p, qa, w.ruling(pkgID, "", "dismissed"))
		if p.Status != workflow.StatusDisputed {
			t.Errorf("split decision: got %v, want %v", p.Status, workflow.StatusDisputed)
		}
		if got, want := pending(p), "map[dismissed:[qa] upheld:[tr]]"; got != want {
			t.Errorf("PendingRulings: got %v, want %v", got, want)
		}
		// Decisions are compared exactly.
		p = w.must(p, tr, w.ruling(pkgID, "", "Dismissed"))
		if p.Status != workflow.StatusDisputed {
			t.Errorf("decisions differing in case: got %v, want %v", p.Status, workflow.StatusDisputed)
		}
		// tr joining qa's decision reaches the quorum on it.
		p = w.must(p, tr, w.ruling(pkgID, "", "dismissed"))
		if p.Status != workflow.StatusRuled || p.Dispute.Decision != "dismissed" {
			t.Errorf("after tr joins: status %v decision %q, want ruled and dismissed", p.Status, p.Dispute.Decision)
		}
	})

	// Hole 4 of issue 12: a mediator that signed "A" and then "B" counts
	// for "B" only, so qa's "A" alone is not a quorum of 2.
	t.Run("a later ruling replaces the party's earlier one", func(t *testing.T) {
		w := newWorld(t, f.ag)
		p := disputed(t, w)
		p = w.must(p, tr, w.ruling(pkgID, "", "A"))
		p = w.must(p, tr2, w.ruling(pkgID, "", "B")) // another tr person: still party tr
		if got, want := pending(p), "map[B:[tr]]"; got != want {
			t.Errorf("PendingRulings after tr changed its ruling: got %v, want %v", got, want)
		}
		p = w.must(p, qa, w.ruling(pkgID, "", "A"))
		if p.Status != workflow.StatusDisputed || p.Dispute.Decision != "" {
			t.Fatalf("qa joins tr's withdrawn ruling: status %v decision %q, want disputed and none", p.Status, p.Dispute.Decision)
		}
		if got, want := pending(p), "map[A:[qa] B:[tr]]"; got != want {
			t.Errorf("PendingRulings: got %v, want %v", got, want)
		}
		// tr going back to "A" now makes it final with qa.
		p = w.must(p, tr, w.ruling(pkgID, "", "A"))
		if p.Status != workflow.StatusRuled || p.Dispute.Decision != "A" {
			t.Errorf("tr back to A: status %v decision %q, want ruled and A", p.Status, p.Dispute.Decision)
		}
	})

	t.Run("ruling on another dispute id", func(t *testing.T) {
		w := newWorld(t, f.ag)
		p := disputed(t, w)
		if _, err := w.apply(p, tr, w.ruling(pkgID, "disp-elsewhere", "upheld")); !errors.Is(err, workflow.ErrNotFound) {
			t.Errorf("got %v, want %v", err, workflow.ErrNotFound)
		}
		if got, want := pending(p), "map[]"; got != want {
			t.Errorf("PendingRulings after refusal: got %v, want %v", got, want)
		}
	})

	t.Run("non-mediators may not rule", func(t *testing.T) {
		w := newWorld(t, f.ag)
		p := disputed(t, w)
		for _, author := range []identity.Identity{pk, af, zz} {
			if _, err := w.apply(p, author, w.ruling(pkgID, "", "upheld")); !errors.Is(err, workflow.ErrPermission) {
				t.Errorf("ruling by %v: got %v, want %v", author, err, workflow.ErrPermission)
			}
		}
	})
}

func TestRulingQuorum1(t *testing.T) {
	f := newFixture(t)
	ag := f.variant(t, 0, func(p *mvmv1.Agreement) { p.RulingQuorum = 1 })
	w := newWorld(t, ag)
	p := disputed(t, w)
	p = w.must(p, qa, w.ruling(pkgID, "", "upheld"))
	if p.Status != workflow.StatusRuled || p.Dispute.Decision != "upheld" {
		t.Errorf("quorum 1: status %v decision %q, want ruled and upheld", p.Status, p.Dispute.Decision)
	}
}

func TestPendingRulingsWithoutDispute(t *testing.T) {
	f := newFixture(t)
	w := newWorld(t, f.ag)
	p := w.must(nil, pk, w.target(pkgID))
	if got := p.PendingRulings(); got == nil || len(got) != 0 {
		t.Errorf("PendingRulings without a dispute: got %v, want an empty map", got)
	}
}
