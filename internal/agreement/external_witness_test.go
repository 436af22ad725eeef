package agreement_test

import (
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/mvm-exchange/mvm/internal/agreement"
	"github.com/mvm-exchange/mvm/internal/tlog"
	mvmv1 "github.com/mvm-exchange/mvm/proto/mvm/v1"
)

// TestExternalWitnesses: an external witness the agreement lists counts
// once toward the witness quorum, alongside the mediators; one it does not
// list, or one whose key is not the listed one, never counts.
func TestExternalWitnesses(t *testing.T) {
	k, read, logKey, cp := newWitnessFixture(t)
	origin := k.ag.LogOrigin
	wKey, wVKey, err := tlog.GenerateCosignerKey("witness.example/w1")
	if err != nil {
		t.Fatal(err)
	}
	impostor, _, err := tlog.GenerateCosignerKey("witness.example/w1")
	if err != nil {
		t.Fatal(err)
	}
	p := proto.Clone(k.proto).(*mvmv1.Agreement)
	p.Witnesses = []*mvmv1.Witness{{Name: "witness.example/w1", VerifierKey: wVKey}}
	p.WitnessQuorum = 3
	listed, err := agreement.Parse(p, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		ag   *agreement.Agreement
		by   []string
		want int
	}{
		{"the witness alone", listed, []string{wKey}, 1},
		{"the witness and both mediators", listed, []string{wKey, read("tr-verifier.cosign.key"), read("qa-verifier.cosign.key")}, 3},
		{"another key under the witness's name", listed, []string{impostor}, 0},
		{"a witness the agreement does not list", k.ag, []string{wKey}, 0},
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
			got, err := tc.ag.CountWitnesses(signed, origin, logKey)
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("got %d witnesses, want %d", got, tc.want)
			}
		})
	}
	if !listed.Witnessed(3) || listed.Witnessed(2) {
		t.Errorf("quorum 3: Witnessed(3)=%v Witnessed(2)=%v", listed.Witnessed(3), listed.Witnessed(2))
	}
}

// TestParseWitnesses: a witness entry whose key does not parse, whose key
// name is not its name, or whose name a mediator's key already uses is an
// invalid agreement; so is a quorum beyond mediators plus witnesses.
func TestParseWitnesses(t *testing.T) {
	k := newPKI(t)
	_, vkey, err := tlog.GenerateCosignerKey("witness.example/w1")
	if err != nil {
		t.Fatal(err)
	}
	_, trName, err := tlog.GenerateCosignerKey("tr-verifier")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name      string
		witnesses []*mvmv1.Witness
		quorum    uint32
		want      string // "" for valid
	}{
		{"valid", []*mvmv1.Witness{{Name: "witness.example/w1", VerifierKey: vkey}}, 3, ""},
		{"bad key", []*mvmv1.Witness{{Name: "witness.example/w1", VerifierKey: "nonsense"}}, 2, "verifier key"},
		{"name is not the key's", []*mvmv1.Witness{{Name: "witness.example/w2", VerifierKey: vkey}}, 2, "its key is named"},
		{"name of a mediator's key", []*mvmv1.Witness{{Name: "tr-verifier", VerifierKey: trName}}, 2, "already used"},
		{"listed twice", []*mvmv1.Witness{{Name: "witness.example/w1", VerifierKey: vkey}, {Name: "witness.example/w1", VerifierKey: vkey}}, 2, "already used"},
		{"quorum beyond", []*mvmv1.Witness{{Name: "witness.example/w1", VerifierKey: vkey}}, 4, "exceeds"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := proto.Clone(k.proto).(*mvmv1.Agreement)
			p.Witnesses, p.WitnessQuorum = tc.witnesses, tc.quorum
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

// TestDiffWitnesses: an amendment that adds or removes an external witness
// shows it as a security-relevant change.
func TestDiffWitnesses(t *testing.T) {
	k := newPKI(t)
	_, vkey, err := tlog.GenerateCosignerKey("witness.example/w1")
	if err != nil {
		t.Fatal(err)
	}
	p := proto.Clone(k.proto).(*mvmv1.Agreement)
	p.Witnesses = append(p.Witnesses, &mvmv1.Witness{Name: "witness.example/w1", VerifierKey: vkey})
	next, err := agreement.Parse(p, 3)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name     string
		cur, nxt *agreement.Agreement
		want     string
	}{
		{"added", k.ag, next, "! external witness: added " + vkey},
		{"removed", next, k.ag, "! external witness: removed " + vkey},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cs := agreement.Diff(tc.cur, tc.nxt)
			if len(cs) != 1 || cs[0].String() != tc.want {
				t.Errorf("got %v, want exactly %q", cs, tc.want)
			}
		})
	}
}
