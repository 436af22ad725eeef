package workflow_test

import (
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/mvm-exchange/mvm/internal/agreement"
	"github.com/mvm-exchange/mvm/internal/message"
	"github.com/mvm-exchange/mvm/internal/workflow"
	mvmv1 "github.com/mvm-exchange/mvm/proto/mvm/v1"
)

// withFile is an evidence submission naming one stored file (its digest
// among the submission's).
func (w *world) withFile(pkg string) *mvmv1.EvidenceSubmission {
	es := w.evidence(pkg)
	es.Files = []*mvmv1.EvidenceFile{{StoredSha256: es.EvidenceSha256[0], StoredSize: 24, Name: "raid.mp4", MediaType: "video/mp4"}}
	return es
}

// evidenceDeadline returns p's evidence deadline; the test fails if it has
// none.
func evidenceDeadline(t *testing.T, p *workflow.Package) workflow.Deadline {
	t.Helper()
	for _, d := range p.Deadlines {
		if d.Name == workflow.DeadlineEvidence {
			return d
		}
	}
	t.Fatalf("package %s has no evidence deadline: %+v", p.ID, p.Deadlines)
	return workflow.Deadline{}
}

// TestEvidenceNeedsFiles: under an agreement with evidence_needs_files the
// evidence deadline is met only by a submission naming a stored file;
// digests alone (in a submission or in the report) are logged and leave
// it open, so breaches count it. Without the rule (agreements made
// before it) digests meet it, as they always did. The rule is the one of
// the agreement in force when the entry is logged.
func TestEvidenceNeedsFiles(t *testing.T) {
	f := newFixture(t)
	rule := f.variant(t, 0, func(p *mvmv1.Agreement) { p.EvidenceNeedsFiles = true })
	if f.ag.EvidenceNeedsFiles || !rule.EvidenceNeedsFiles {
		t.Fatalf("agreement.Parse: evidence needs files %v without the field, %v with it", f.ag.EvidenceNeedsFiles, rule.EvidenceNeedsFiles)
	}
	tAck := t0.Add(time.Hour)
	tRep := tAck.Add(2 * time.Hour)
	due := tRep.Add(evidenceD)
	tEv := tRep.Add(24 * time.Hour)
	tLate := due.Add(2 * time.Hour)
	far := due.Add(1000 * time.Hour)

	type submission struct {
		at   time.Time
		file bool // names a stored file, or digests alone
	}
	for _, tt := range []struct {
		name          string
		atReport      *agreement.Agreement // in force at the report
		atEvidence    *agreement.Agreement // in force at the submissions
		reportDigests bool
		subs          []submission
		met           time.Time // zero: open
	}{
		{"digests alone meet it without the rule", f.ag, f.ag, false, []submission{{tEv, false}}, tEv},
		{"digests alone leave it open under the rule", rule, rule, false, []submission{{tEv, false}}, time.Time{}},
		{"a stored file meets it under the rule", rule, rule, false, []submission{{tEv, true}}, tEv},
		{"a stored file meets it without the rule", f.ag, f.ag, false, []submission{{tEv, true}}, tEv},
		{"digests in time, the file late: met late", rule, rule, false, []submission{{tEv, false}, {tLate, true}}, tLate},
		{"the file first, digests later: met by the file", rule, rule, false, []submission{{tEv, true}, {tLate, false}}, tEv},
		{"the report's digests meet it without the rule", f.ag, f.ag, true, nil, tRep},
		{"the report's digests leave it open under the rule", rule, rule, true, nil, time.Time{}},
		{"amended to the rule before the submission", f.ag, rule, false, []submission{{tEv, false}}, time.Time{}},
		{"amended away from the rule before the submission", rule, f.ag, false, []submission{{tEv, false}}, tEv},
	} {
		t.Run(tt.name, func(t *testing.T) {
			w := newWorld(t, tt.atReport)
			p := w.must(nil, pk, w.applyTarget(t0))
			p, err := w.applyIn(p, w.inputAt(af, w.ack(pkgID), tAck))
			if err != nil {
				t.Fatal(err)
			}
			if p, err = w.applyIn(p, w.inputAt(af, w.report(pkgID, mvmv1.Outcome_OUTCOME_SITE_DESTROYED, tt.reportDigests), tRep)); err != nil {
				t.Fatal(err)
			}
			w.ag = tt.atEvidence
			for _, s := range tt.subs {
				es := w.evidence(pkgID)
				if s.file {
					es = w.withFile(pkgID)
				}
				// Logged either way: a submission of digests is a statement.
				if p, err = w.applyIn(p, w.inputAt(af, es, s.at)); err != nil {
					t.Fatalf("submission at %v (file %v): %v", s.at, s.file, err)
				}
			}
			if d := evidenceDeadline(t, p); !d.Met.Equal(tt.met) || !d.Due.Equal(due) {
				t.Errorf("evidence deadline: due %v met %v, want due %v met %v", d.Due, d.Met, due, tt.met)
			}
			var want []workflow.Breach
			switch {
			case tt.met.IsZero():
				want = []workflow.Breach{br(pkgID, workflow.DeadlineEvidence, due, far.Sub(due), true)}
			case tt.met.After(due):
				want = []workflow.Breach{br(pkgID, workflow.DeadlineEvidence, due, tt.met.Sub(due), false)}
			}
			if got := workflow.Breaches([]*workflow.Package{p}, far); fmtBreaches(got) != fmtBreaches(want) {
				t.Errorf("Breaches:\n got  %v\n want %v", fmtBreaches(got), fmtBreaches(want))
			}
		})
	}

	// Sealed: a submission's files stay in its cleartext header (without
	// their names), so the reducer counts them as every reader does.
	t.Run("sealed", func(t *testing.T) {
		ag := f.variant(t, 0, func(p *mvmv1.Agreement) { p.EvidenceNeedsFiles, p.SealedBodies = true, true })
		w := newWorld(t, ag)
		tp, key, err := message.SealPackage(w.applyTarget(t0), ag.LogOrigin, recipientsOf(t, ag, "pk", "af", "tr", "qa"))
		if err != nil {
			t.Fatal(err)
		}
		sealed := func(m proto.Message) proto.Message {
			t.Helper()
			s, err := message.SealMessage(m, ag.LogOrigin, key)
			if err != nil {
				t.Fatal(err)
			}
			return s
		}
		p := w.must(nil, pk, tp)
		p = w.must(p, af, sealed(w.ack(pkgID)))
		p = w.must(p, af, sealed(w.report(pkgID, mvmv1.Outcome_OUTCOME_RAID_CONDUCTED, true)))
		digests := sealed(w.evidence(pkgID))
		p = w.must(p, af, digests)
		if d := evidenceDeadline(t, p); !d.Met.IsZero() {
			t.Fatalf("sealed digests alone met the evidence deadline: %+v", d)
		}
		file := sealed(w.withFile(pkgID)).(*mvmv1.EvidenceSubmission)
		if len(file.Files) != 1 || file.Files[0].Name != "" || len(file.SealedBody) == 0 {
			t.Fatalf("sealed submission's header: files %v (name in clear: %q), sealed body %d bytes", len(file.Files), file.GetFiles()[0].GetName(), len(file.SealedBody))
		}
		p = w.must(p, af, file)
		if d := evidenceDeadline(t, p); !d.Met.Equal(w.now) {
			t.Fatalf("sealed submission naming a file: evidence deadline %+v, want met %v", d, w.now)
		}
	})
}
