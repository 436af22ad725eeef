package workflow_test

import (
	"bytes"
	"errors"
	"fmt"
	"testing"

	"github.com/mvm-exchange/mvm/internal/identity"
	"github.com/mvm-exchange/mvm/internal/workflow"
	mvmv1 "github.com/mvm-exchange/mvm/proto/mvm/v1"
)

func (w *world) publication(month string, digest byte, size uint64) *mvmv1.ReportPublication {
	return &mvmv1.ReportPublication{Header: w.hdr("pub"), Month: month, ReportSha256: bytes.Repeat([]byte{digest}, 32),
		CheckpointSize: size, CheckpointRoot: bytes.Repeat([]byte{0xee}, 32)}
}

// TestPublishRules: a report publication is a mediator's, of a month over
// by its receive time, at a checkpoint the log had before it, about no
// package; accepted, it changes no package (nil, nil).
func TestPublishRules(t *testing.T) {
	f := newFixture(t)
	// t0 is 2026-03-02: February is over, March is not.
	for _, test := range []struct {
		name   string
		author identity.Identity
		month  string
		size   uint64 // the entry's index is 10
		pkg    bool
		want   error
	}{
		{"a mediator, a past month, an earlier checkpoint", tr, "2026-02", 9, false, nil},
		{"the checkpoint just before it", qa, "2026-02", 10, false, nil},
		{"a checkpoint the log never had", tr, "2026-02", 11, false, workflow.ErrInvalid},
		{"the submitter", pk, "2026-02", 9, false, workflow.ErrPermission},
		{"the responder", af, "2026-02", 9, false, workflow.ErrPermission},
		{"a party outside the agreement", zz, "2026-02", 9, false, workflow.ErrPermission},
		{"the month under way", tr, "2026-03", 9, false, workflow.ErrPrecondition},
		{"a month to come", tr, "2027-01", 9, false, workflow.ErrPrecondition},
		{"with a package state", tr, "2026-02", 9, true, workflow.ErrInvalid},
	} {
		t.Run(test.name, func(t *testing.T) {
			w := newWorld(t, f.ag)
			var p *workflow.Package
			if test.pkg {
				p = w.must(nil, pk, w.target(pkgID))
			}
			w.idx = 9
			in := w.input(test.author, w.publication(test.month, 1, test.size))
			next, err := workflow.Apply(f.ag, p, in)
			if !errors.Is(err, test.want) || (test.want == nil) != (err == nil) {
				t.Fatalf("Apply: got %v, want %v", err, test.want)
			}
			if next != nil {
				t.Errorf("Apply returned a package for a publication: %+v", next)
			}
			if err != nil && refusalKinds(err) != 1 {
				t.Errorf("refusal %v wraps %d kinds, want exactly 1", err, refusalKinds(err))
			}
		})
	}
}

// TestMonthReportAgreed: agreed once the ruling quorum of mediator parties
// published the same report (digest and checkpoint), each party's latest
// publication counting; final once agreed.
func TestMonthReportAgreed(t *testing.T) {
	f := newFixture(t) // ruling quorum 2: tr and qa
	one := f.variant(t, 0, func(p *mvmv1.Agreement) { p.RulingQuorum = 1 })
	type pub struct {
		party  string
		digest byte
		size   uint64
	}
	for _, test := range []struct {
		name string
		pubs []pub
		one  bool   // under a quorum of one
		want string // "" not agreed, else "digest@index by parties"
	}{
		{"two mediators, the same report", []pub{{"tr", 1, 5}, {"qa", 1, 5}}, false, "01@2 by [qa tr]"},
		{"two mediators, different digests", []pub{{"tr", 1, 5}, {"qa", 2, 5}}, false, ""},
		{"the same digest at another checkpoint", []pub{{"tr", 1, 5}, {"qa", 1, 6}}, false, ""},
		{"one mediator twice", []pub{{"tr", 1, 5}, {"tr", 1, 5}}, false, ""},
		{"one mediator changed its mind: only its latest counts", []pub{{"tr", 1, 5}, {"tr", 2, 5}, {"qa", 1, 5}}, false, ""},
		{"then came round", []pub{{"tr", 1, 5}, {"tr", 2, 5}, {"qa", 1, 5}, {"tr", 1, 5}}, false, "01@4 by [qa tr]"},
		{"agreed is final", []pub{{"tr", 1, 5}, {"qa", 1, 5}, {"tr", 2, 5}, {"qa", 2, 5}}, false, "01@2 by [qa tr]"},
		{"a quorum of one", []pub{{"tr", 3, 5}}, true, "03@1 by [tr]"},
	} {
		t.Run(test.name, func(t *testing.T) {
			ag := f.ag
			if test.one {
				ag = one
			}
			m := &workflow.MonthReport{Month: "2026-02"}
			for i, p := range test.pubs {
				m.Add(ag, workflow.Publication{Index: uint64(i + 1), ReceivedAt: t0, Party: p.party,
					Digest: bytes.Repeat([]byte{p.digest}, 32), Size: p.size, Root: bytes.Repeat([]byte{0xee}, 32)})
			}
			got := ""
			if a := m.Agreed; a != nil {
				got = fmt.Sprintf("%02x@%d by %v", a.Digest[0], a.Index, m.AgreedBy)
			}
			if got != test.want {
				t.Errorf("agreed: got %q, want %q", got, test.want)
			}
			if len(m.Publications) != len(test.pubs) {
				t.Errorf("publications listed: got %d, want %d", len(m.Publications), len(test.pubs))
			}
		})
	}
}
