package agreement_test

import (
	"slices"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/mvm-exchange/mvm/internal/agreement"
	"github.com/mvm-exchange/mvm/internal/tlog"
	mvmv1 "github.com/mvm-exchange/mvm/proto/mvm/v1"
)

// TestNodeWitnesses: the dev agreement lists each mediator's node as a
// witness of its party, and a node's cosignature is its party's vote: two
// nodes make a checkpoint witnessed (quorum 2), one party's verifier and
// node do not, and an external witness still counts on its own.
func TestNodeWitnesses(t *testing.T) {
	k, read, logKey, cp := newWitnessFixture(t)
	origin := k.ag.LogOrigin
	var nodes []string
	for _, w := range k.ag.Witnesses {
		nodes = append(nodes, w.Name+" of "+w.Party)
	}
	if want := []string{"tr-node of tr", "qa-node of qa"}; !slices.Equal(nodes, want) {
		t.Fatalf("the dev agreement lists witnesses %q, want %q", nodes, want)
	}
	wKey, wVKey, err := tlog.GenerateCosignerKey("witness.example/w1")
	if err != nil {
		t.Fatal(err)
	}
	p := proto.Clone(k.proto).(*mvmv1.Agreement)
	p.Witnesses = append(p.Witnesses, &mvmv1.Witness{Name: "witness.example/w1", VerifierKey: wVKey})
	withExternal, err := agreement.Parse(p, 0)
	if err != nil {
		t.Fatal(err)
	}
	trV, qaV := read("tr-verifier.cosign.key"), read("qa-verifier.cosign.key")
	trN, qaN := read("tr-node.cosign.key"), read("qa-node.cosign.key")
	for _, tc := range []struct {
		name      string
		ag        *agreement.Agreement
		by        []string
		mediators int
		external  int
		names     string
	}{
		{"one node", k.ag, []string{trN}, 1, 0, "tr-node"},
		{"both nodes", k.ag, []string{qaN, trN}, 2, 0, "tr-node qa-node"},
		{"a party's verifier and its node", k.ag, []string{trV, trN}, 1, 0, "tr-verifier tr-node"},
		{"a verifier and the other party's node", k.ag, []string{trV, qaN}, 2, 0, "tr-verifier qa-node"},
		{"everyone", k.ag, []string{trV, trN, qaV, qaN}, 2, 0, "tr-verifier tr-node qa-verifier qa-node"},
		{"a node and an external witness", withExternal, []string{trN, wKey}, 1, 1, "tr-node witness.example/w1"},
		{"the external witness alone", withExternal, []string{wKey}, 0, 1, "witness.example/w1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var lines []string
			for _, skey := range tc.by {
				line, err := tlog.Cosign(skey, cp, origin, logKey)
				if err != nil {
					t.Fatal(err)
				}
				lines = append(lines, line)
			}
			signed, err := tlog.AddCosignatures(cp, lines)
			if err != nil {
				t.Fatal(err)
			}
			got, err := tc.ag.Tally(signed, origin, logKey)
			if err != nil {
				t.Fatal(err)
			}
			if got.Mediators != tc.mediators || got.External != tc.external || strings.Join(got.Names, " ") != tc.names {
				t.Errorf("got %d mediators, %d external, names %q; want %d, %d, %q", got.Mediators, got.External, got.Names, tc.mediators, tc.external, tc.names)
			}
			n, err := tc.ag.CountWitnesses(signed, origin, logKey)
			if err != nil || n != tc.mediators+tc.external {
				t.Errorf("CountWitnesses: %d, %v; want %d", n, err, tc.mediators+tc.external)
			}
			if w := tc.ag.Witnessed(n); w != (tc.mediators+tc.external >= 2) {
				t.Errorf("Witnessed(%d) = %v with quorum 2", n, w)
			}
		})
	}
}

// TestParseNodeWitnesses: a witness bound to a party must name a mediator
// of the agreement.
func TestParseNodeWitnesses(t *testing.T) {
	k := newPKI(t)
	for _, tc := range []struct {
		name  string
		party string
		want  string // "" for valid
	}{
		{"a mediator", "qa", ""},
		{"a submitter", "pk", `is the node of party "pk", which is not a mediator`},
		{"no such party", "zz", `is the node of party "zz", which is not a mediator`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := proto.Clone(k.proto).(*mvmv1.Agreement)
			p.Witnesses[1].Party = tc.party
			_, err := agreement.Parse(p, 0)
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("got %v, want a valid agreement", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("got %v, want an error containing %q", err, tc.want)
			}
		})
	}
}
