package workflow_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/mvm-exchange/mvm/internal/agreement"
	"github.com/mvm-exchange/mvm/internal/devpki"
	"github.com/mvm-exchange/mvm/internal/workflow"
	mvmv1 "github.com/mvm-exchange/mvm/proto/mvm/v1"
)

// signAt is a time at which every dev certificate is valid.
var signAt = genTime.Add(24 * time.Hour)

func TestAmendGenesis(t *testing.T) {
	f := newFixture(t)
	ag, err := workflow.Amend(nil, f.env, f.proto, 0, signAt)
	if err != nil {
		t.Fatalf("Amend(genesis at 0): %v", err)
	}
	if ag.Index != 0 || ag.TrustDomain != "mvm.example" || ag.RulingQuorum != 2 {
		t.Errorf("genesis: index %v trust domain %v quorum %v, want 0 mvm.example 2", ag.Index, ag.TrustDomain, ag.RulingQuorum)
	}

	tests := []struct {
		name    string
		current *agreement.Agreement
		env     func() (*mvmv1.Envelope, *mvmv1.Agreement)
		index   uint64
		at      time.Time
		want    error
	}{
		{"genesis at a non-zero index", nil, func() (*mvmv1.Envelope, *mvmv1.Agreement) { return f.env, f.proto }, 3, signAt, workflow.ErrPrecondition},
		{"amendment at index 0", f.ag, func() (*mvmv1.Envelope, *mvmv1.Agreement) { return f.env, f.proto }, 0, signAt, workflow.ErrPrecondition},
		{"genesis missing a signature", nil, func() (*mvmv1.Envelope, *mvmv1.Agreement) {
			return f.seal(t, f.proto, "pk-liaison", "af-interior", "tr-verifier")
		}, 0, signAt, workflow.ErrPermission},
		{"genesis signed after the certificates expired", nil, func() (*mvmv1.Envelope, *mvmv1.Agreement) { return f.env, f.proto },
			0, genTime.AddDate(3, 0, 0), workflow.ErrPermission},
		{"genesis that does not parse", nil, func() (*mvmv1.Envelope, *mvmv1.Agreement) {
			p := proto.Clone(f.proto).(*mvmv1.Agreement)
			p.RulingQuorum = 9
			return f.seal(t, p, allSigners...)
		}, 0, signAt, workflow.ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env, p := tt.env()
			got, err := workflow.Amend(tt.current, env, p, tt.index, tt.at)
			if !errors.Is(err, tt.want) {
				t.Errorf("Amend: got %v, want %v", err, tt.want)
			}
			if got != nil {
				t.Errorf("Amend returned an agreement with an error")
			}
		})
	}
}

var amendments int

// amendment returns a copy of the dev agreement amending index amends, with
// a fresh message id.
func amendment(f *fixture, amends uint64, mutate func(p *mvmv1.Agreement)) *mvmv1.Agreement {
	p := proto.Clone(f.proto).(*mvmv1.Agreement)
	amendments++
	p.Header.MessageId = fmt.Sprintf("amendment-%d", amendments)
	p.AmendsIndex = amends
	mutate(p)
	return p
}

func TestAmendRefusals(t *testing.T) {
	f := newFixture(t)
	const index = 42
	tests := []struct {
		name    string
		mutate  func(p *mvmv1.Agreement)
		signers []string
		want    error // nil = accepted
	}{
		{"all sign, deadlines changed", func(p *mvmv1.Agreement) {
			p.Deadlines.Acknowledge = durationpb.New(12 * time.Hour)
		}, allSigners, nil},
		{"wrong amends_index", func(p *mvmv1.Agreement) { p.AmendsIndex = 1 }, allSigners, workflow.ErrPrecondition},
		{"changes the log origin", func(p *mvmv1.Agreement) { p.LogOrigin = "mvm.example/exchange/other" }, allSigners, workflow.ErrInvalid},
		{"changes the log key", func(p *mvmv1.Agreement) { p.LogVerifierKey = "other+12345678+AAAA" }, allSigners, workflow.ErrInvalid},
		{"changes the trust domain", func(p *mvmv1.Agreement) { p.TrustDomain = "other.example" }, allSigners, workflow.ErrInvalid},
		{"invalid agreement", func(p *mvmv1.Agreement) { p.Parties = p.Parties[:1] }, allSigners, workflow.ErrInvalid},
		{"the agreement in force again (same message id)", func(p *mvmv1.Agreement) {
			p.Header.MessageId = f.proto.Header.MessageId
		}, allSigners, workflow.ErrAlreadyExists},
		{"missing pk's signature", func(p *mvmv1.Agreement) {}, []string{"af-interior", "tr-verifier", "qa-verifier"}, workflow.ErrPermission},
		{"missing qa's signature", func(p *mvmv1.Agreement) {}, []string{"pk-liaison", "af-interior", "tr-verifier"}, workflow.ErrPermission},
		{"drops qa, signed by the remaining parties", func(p *mvmv1.Agreement) {
			p.Parties = p.Parties[:3]
			p.Witnesses = dropNodeOf(p.Witnesses, "qa") // qa's node goes with it
			p.RulingQuorum, p.WitnessQuorum = 1, 1
		}, []string{"pk-liaison", "af-interior", "tr-verifier"}, workflow.ErrPermission},
		{"drops qa, signed by every party in force", func(p *mvmv1.Agreement) {
			p.Parties = p.Parties[:3]
			p.Witnesses = dropNodeOf(p.Witnesses, "qa") // qa's node goes with it
			p.RulingQuorum, p.WitnessQuorum = 1, 1
		}, allSigners, nil},
	}
	// The genesis envelope itself, replayed as an amendment: signed by
	// everyone and amending index 0, but it is the agreement in force.
	if _, err := workflow.Amend(f.ag, f.env, f.proto, index, signAt); !errors.Is(err, workflow.ErrAlreadyExists) {
		t.Errorf("genesis replayed as an amendment: got %v, want %v", err, workflow.ErrAlreadyExists)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env, p := f.seal(t, amendment(f, 0, tt.mutate), tt.signers...)
			got, err := workflow.Amend(f.ag, env, p, index, signAt)
			if tt.want == nil {
				if err != nil {
					t.Fatalf("Amend: got %v, want nil", err)
				}
				if got.Index != index {
					t.Errorf("Index: got %v, want %v", got.Index, index)
				}
				return
			}
			if !errors.Is(err, tt.want) {
				t.Errorf("Amend: got %v, want %v", err, tt.want)
			}
			if got != nil {
				t.Errorf("Amend returned an agreement with an error")
			}
		})
	}
}

// An amendment adding a party needs that party's signature as well.
func TestAmendAddsParty(t *testing.T) {
	f := newFixture(t)
	// A new mediator "eg" whose CA is, for the test, af's CA re-used under
	// another identity: issue eg's identity from ca-af.
	if err := devpki.Issue(f.dir, "eg-verifier", "eg", devpki.IssueOptions{CAParty: "af", NotBefore: genTime}); err != nil {
		t.Fatal(err)
	}
	afCA := f.proto.Parties[1].CaCertificates
	add := func(p *mvmv1.Agreement) {
		p.Parties = append(p.Parties, &mvmv1.Party{Id: "eg", Name: "Egypt", Role: mvmv1.Role_ROLE_MEDIATOR, CaCertificates: afCA})
	}
	env, p := f.seal(t, amendment(f, 0, add), allSigners...)
	if _, err := workflow.Amend(f.ag, env, p, 9, signAt); !errors.Is(err, workflow.ErrPermission) {
		t.Errorf("new party did not sign: got %v, want %v", err, workflow.ErrPermission)
	}
	env, p = f.seal(t, amendment(f, 0, add), append(allSigners, "eg-verifier")...)
	next, err := workflow.Amend(f.ag, env, p, 9, signAt)
	if err != nil {
		t.Fatalf("all five signed: got %v, want nil", err)
	}
	if got := next.RoleOf("eg"); got != mvmv1.Role_ROLE_MEDIATOR {
		t.Errorf("RoleOf(eg): got %v, want %v", got, mvmv1.Role_ROLE_MEDIATOR)
	}

	// A second amendment must name the first.
	env2, p2 := f.seal(t, amendment(f, 0, func(p *mvmv1.Agreement) {}), allSigners...)
	if _, err := workflow.Amend(next, env2, p2, 20, signAt); !errors.Is(err, workflow.ErrPrecondition) {
		t.Errorf("amendment naming the genesis after another amendment: got %v, want %v", err, workflow.ErrPrecondition)
	}
	// ... and, since eg is now a party, needs eg's signature to drop it.
	env3, p3 := f.seal(t, amendment(f, 9, func(p *mvmv1.Agreement) {}), allSigners...)
	if _, err := workflow.Amend(next, env3, p3, 20, signAt); !errors.Is(err, workflow.ErrPermission) {
		t.Errorf("dropping eg without eg's signature: got %v, want %v", err, workflow.ErrPermission)
	}
	env4, p4 := f.seal(t, amendment(f, 9, func(p *mvmv1.Agreement) {}), append(allSigners, "eg-verifier")...)
	if _, err := workflow.Amend(next, env4, p4, 20, signAt); err != nil {
		t.Errorf("dropping eg with every signature: got %v, want nil", err)
	}
}

// A changed acknowledge deadline applies to packages submitted under the
// amendment, not to packages submitted before it.
func TestAmendDeadlineAppliesForward(t *testing.T) {
	f := newFixture(t)
	const amendIndex = 10
	env, p := f.seal(t, amendment(f, 0, func(p *mvmv1.Agreement) {
		p.Deadlines.Acknowledge = durationpb.New(2 * time.Hour)
	}), allSigners...)
	next, err := workflow.Amend(f.ag, env, p, amendIndex, signAt)
	if err != nil {
		t.Fatalf("Amend: %v", err)
	}
	if got, want := next.Deadlines.Acknowledge, 2*time.Hour; got != want {
		t.Fatalf("amended acknowledge deadline: got %v, want %v", got, want)
	}

	// Before the amendment: submitted under the genesis agreement.
	w := newWorld(t, f.ag)
	old, err := w.applyIn(nil, w.inputAt(pk, w.target("old"), t0))
	if err != nil {
		t.Fatal(err)
	}
	// After it: the same submission under the amendment.
	w.ag = next
	w.idx = amendIndex
	fresh, err := w.applyIn(nil, w.inputAt(pk, w.target("new"), t0))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := old.Deadlines[0].Due, t0.Add(24*time.Hour); !got.Equal(want) {
		t.Errorf("package before the amendment: due %v, want %v", got, want)
	}
	if got, want := fresh.Deadlines[0].Due, t0.Add(2*time.Hour); !got.Equal(want) {
		t.Errorf("package after the amendment: due %v, want %v", got, want)
	}
	// Acknowledging the old package under the new agreement does not
	// move its acknowledge deadline.
	old, err = w.applyIn(old, w.inputAt(af, w.ack("old"), t0.Add(3*time.Hour)))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := old.Deadlines[0].Due, t0.Add(24*time.Hour); !got.Equal(want) {
		t.Errorf("old package after ack under the amendment: due %v, want %v", got, want)
	}
	asOf := t0.Add(4 * time.Hour)
	bs := workflow.Breaches([]*workflow.Package{old, fresh}, asOf)
	want := []workflow.Breach{{PackageID: "new", Party: "af", Deadline: "acknowledge", Due: t0.Add(2 * time.Hour), Late: 2 * time.Hour, Open: true}}
	if fmtBreaches(bs) != fmtBreaches(want) {
		t.Errorf("Breaches:\n got  %v\n want %v", fmtBreaches(bs), fmtBreaches(want))
	}
}

// dropNodeOf returns ws without the node witnesses of party.
func dropNodeOf(ws []*mvmv1.Witness, party string) []*mvmv1.Witness {
	var keep []*mvmv1.Witness
	for _, w := range ws {
		if w.Party != party {
			keep = append(keep, w)
		}
	}
	return keep
}
