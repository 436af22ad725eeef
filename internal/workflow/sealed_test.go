package workflow_test

import (
	"errors"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/mvm-exchange/mvm/internal/agreement"
	"github.com/mvm-exchange/mvm/internal/message"
	"github.com/mvm-exchange/mvm/internal/seal"
	"github.com/mvm-exchange/mvm/internal/workflow"
	mvmv1 "github.com/mvm-exchange/mvm/proto/mvm/v1"
)

// recipientsOf returns the named parties with their keys in ag.
func recipientsOf(t *testing.T, ag *agreement.Agreement, ids ...string) []message.Recipient {
	t.Helper()
	var out []message.Recipient
	for _, id := range ids {
		p, ok := ag.Party(id)
		if !ok || p.EncryptionKey == nil {
			t.Fatalf("party %s has no encryption key", id)
		}
		out = append(out, message.Recipient{Party: id, Key: p.EncryptionKey})
	}
	return out
}

// TestSealedMode: the agreement in force decides whether a package is
// sealed, a sealed package must reach the parties that act on it with
// their current keys, and every message follows its package's mode.
func TestSealedMode(t *testing.T) {
	f := newFixture(t)
	irKey, err := seal.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	sealedAg := f.variant(t, 0, func(p *mvmv1.Agreement) {
		p.SealedBodies = true
		ir := proto.Clone(p.Parties[1]).(*mvmv1.Party) // a second responder
		ir.Id, ir.Name, ir.EncryptionKey = "ir", "Iran", irKey.Public().Bytes()
		p.Parties = append(p.Parties, ir)
	})
	staleKey, err := seal.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	all := []string{"pk", "af", "tr", "qa"}
	sealPkg := func(w *world, ag *agreement.Agreement, id string, to []message.Recipient) (*mvmv1.TargetPackage, seal.PackageKey) {
		tp := w.target(id)
		tp.Responder = "af"
		sealed, key, err := message.SealPackage(tp, ag.LogOrigin, to)
		if err != nil {
			t.Fatal(err)
		}
		return sealed, key
	}
	for _, test := range []struct {
		name string
		ag   *agreement.Agreement
		tp   func(w *world) *mvmv1.TargetPackage
		say  string // "" = accepted
	}{
		{"sealed to every party", sealedAg, func(w *world) *mvmv1.TargetPackage {
			tp, _ := sealPkg(w, sealedAg, "p1", recipientsOf(t, sealedAg, all...))
			return tp
		}, ""},
		{"narrower: not to the other responder", sealedAg, func(w *world) *mvmv1.TargetPackage {
			tp, _ := sealPkg(w, sealedAg, "p1", recipientsOf(t, sealedAg, "pk", "af", "tr", "qa"))
			return tp
		}, ""},
		{"plaintext under a sealing agreement", sealedAg, func(w *world) *mvmv1.TargetPackage {
			tp := w.target("p1")
			tp.Responder = "af"
			return tp
		}, "seals bodies"},
		{"sealed under an agreement that does not seal", f.ag, func(w *world) *mvmv1.TargetPackage {
			tp, _ := sealPkg(w, f.ag, "p1", recipientsOf(t, f.ag, all...))
			return tp
		}, "does not seal bodies"},
		{"without a mediator", sealedAg, func(w *world) *mvmv1.TargetPackage {
			tp, _ := sealPkg(w, sealedAg, "p1", recipientsOf(t, sealedAg, "pk", "af", "tr"))
			return tp
		}, "party qa must be a recipient"},
		{"without the responder", sealedAg, func(w *world) *mvmv1.TargetPackage {
			tp, _ := sealPkg(w, sealedAg, "p1", recipientsOf(t, sealedAg, "pk", "ir", "tr", "qa"))
			return tp
		}, "party af must be a recipient"},
		{"without the submitter", sealedAg, func(w *world) *mvmv1.TargetPackage {
			tp, _ := sealPkg(w, sealedAg, "p1", recipientsOf(t, sealedAg, "af", "tr", "qa"))
			return tp
		}, "party pk must be a recipient"},
		{"to a stale key", sealedAg, func(w *world) *mvmv1.TargetPackage {
			to := recipientsOf(t, sealedAg, all...)
			to[1].Key = staleKey.Public()
			tp, _ := sealPkg(w, sealedAg, "p1", to)
			return tp
		}, "the key for party af is wrapped to key " + staleKey.Public().ID()},
		{"to a stranger", sealedAg, func(w *world) *mvmv1.TargetPackage {
			to := append(recipientsOf(t, sealedAg, all...), message.Recipient{Party: "xx", Key: staleKey.Public()})
			tp, _ := sealPkg(w, sealedAg, "p1", to)
			return tp
		}, `"xx" is not a party`},
	} {
		t.Run(test.name, func(t *testing.T) {
			w := newWorld(t, test.ag)
			tp := test.tp(w)
			if err := message.Validate(tp); err != nil {
				t.Fatalf("Validate: %v", err)
			}
			p, err := w.apply(nil, pk, tp)
			if test.say == "" {
				if err != nil || !p.Sealed {
					t.Fatalf("Apply = %v (sealed %v), want a sealed package", err, p != nil && p.Sealed)
				}
				return
			}
			if !errors.Is(err, workflow.ErrInvalid) || !strings.Contains(err.Error(), test.say) {
				t.Fatalf("Apply = %v, want ErrInvalid saying %q", err, test.say)
			}
		})
	}

	t.Run("messages follow their package", func(t *testing.T) {
		w := newWorld(t, sealedAg)
		tp, key := sealPkg(w, sealedAg, "p1", recipientsOf(t, sealedAg, all...))
		p := w.must(nil, pk, tp)
		if _, err := w.apply(p, af, w.ack("p1")); !errors.Is(err, workflow.ErrInvalid) || !strings.Contains(err.Error(), "package p1 is sealed") {
			t.Fatalf("plaintext ack on a sealed package: %v", err)
		}
		ack, err := message.SealMessage(w.ack("p1"), sealedAg.LogOrigin, key)
		if err != nil {
			t.Fatal(err)
		}
		p = w.must(p, af, ack)
		if p.Status != workflow.StatusAcknowledged || !p.Sealed {
			t.Fatalf("status %s sealed %v after a sealed ack", p.Status, p.Sealed)
		}
		// The compact state keeps the mode: a replay from it still
		// refuses plaintext.
		back, err := workflow.DecodeCompact(p.AppendCompact(nil))
		if err != nil || !back.Sealed {
			t.Fatalf("compact round trip: sealed %v, %v", back != nil && back.Sealed, err)
		}

		plain := newWorld(t, f.ag)
		q := plain.must(nil, pk, plain.target("p2"))
		sealedAck, err := message.SealMessage(plain.ack("p2"), f.ag.LogOrigin, key)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := plain.apply(q, af, sealedAck); !errors.Is(err, workflow.ErrInvalid) || !strings.Contains(err.Error(), "not sealed") {
			t.Fatalf("sealed ack on a plaintext package: %v", err)
		}
	})
}
