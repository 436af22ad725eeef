package agreement_test

import (
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/mvm-exchange/mvm/internal/agreement"
	"github.com/mvm-exchange/mvm/internal/seal"
	mvmv1 "github.com/mvm-exchange/mvm/proto/mvm/v1"
)

// TestDiff: every change of an amendment is listed, and those that change
// who is trusted or what counts are marked security-relevant.
func TestDiff(t *testing.T) {
	k := newPKI(t)
	// A second PKI provides a foreign CA certificate to add.
	other := newPKI(t)
	otherAF := partyOf(t, other.proto, "af").CaCertificates[0]
	otherKey := partyOf(t, other.proto, "tr").CosignerKeys[0]
	for _, tc := range []struct {
		name string
		edit func(p *mvmv1.Agreement)
		want []string // Change.String() of each change, in order
	}{
		{"nothing but header and amends_index", func(p *mvmv1.Agreement) {
			p.Header = &mvmv1.Header{MessageId: "new"}
			p.AmendsIndex = 7
		}, nil},
		{"title", func(p *mvmv1.Agreement) { p.Title = "v2" }, []string{`  title: MVM dev agreement -> v2`}},
		{"acknowledge deadline", func(p *mvmv1.Agreement) {
			p.Deadlines = &mvmv1.Deadlines{Acknowledge: durationpb.New(48 * time.Hour)}
		}, []string{`  deadline acknowledge: 24h0m0s -> 48h0m0s`}},
		{"second CA for af", func(p *mvmv1.Agreement) {
			af := partyOf(t, p, "af")
			af.CaCertificates = append(af.CaCertificates, otherAF)
		}, []string{`! party af CA: added "`}},
		{"CA of af replaced", func(p *mvmv1.Agreement) {
			partyOf(t, p, "af").CaCertificates = [][]byte{otherAF}
		}, []string{`! party af CA: removed "`, `! party af CA: added "`}},
		{"cosigner key rotated", func(p *mvmv1.Agreement) {
			partyOf(t, p, "tr").CosignerKeys = []string{otherKey}
		}, []string{`! party tr cosigner key: removed tr-verifier+`, `! party tr cosigner key: added tr-verifier+`}},
		{"role", func(p *mvmv1.Agreement) {
			partyOf(t, p, "qa").Role = mvmv1.Role_ROLE_SUBMITTER
			partyOf(t, p, "qa").CosignerKeys = nil
			p.Witnesses = withoutNodesOf(p.Witnesses, "qa")
			p.RulingQuorum, p.WitnessQuorum = 1, 1
		}, []string{`! ruling quorum: 2 -> 1`, `! witness quorum: 2 -> 1`, `! party qa role: mediator -> submitter`, `! party qa cosigner key: removed qa-verifier+`, `! node witness: removed qa-node+`}},
		{"node moved to another party", func(p *mvmv1.Agreement) {
			for _, w := range p.Witnesses {
				if w.Party == "qa" {
					w.Party = "tr"
				}
			}
		}, []string{`! node witness: removed qa-node+`, `! node witness: added qa-node+`}},
		{"quorums and skew", func(p *mvmv1.Agreement) {
			p.RulingQuorum, p.WitnessQuorum, p.MaxClockSkew = 1, 1, durationpb.New(time.Hour)
		}, []string{`! ruling quorum: 2 -> 1`, `! witness quorum: 2 -> 1`, `! clock skew: 5m0s -> 1h0m0s`}},
		{"trust domain and log key", func(p *mvmv1.Agreement) {
			p.TrustDomain, p.LogVerifierKey = "evil.example", other.proto.LogVerifierKey
		}, []string{`! trust domain: mvm.example -> evil.example`, `! log key: `}},
		{"party added", func(p *mvmv1.Agreement) {
			np := proto.Clone(partyOf(t, other.proto, "af")).(*mvmv1.Party)
			np.Id, np.Name = "ir", "observer"
			p.Parties = append(p.Parties, np)
		}, []string{`! party ir: added responder (observer), 1 CA(s) "`}},
		{"party removed", func(p *mvmv1.Agreement) {
			var keep []*mvmv1.Party
			for _, pp := range p.Parties {
				if pp.Id != "qa" {
					keep = append(keep, pp)
				}
			}
			p.Parties, p.RulingQuorum, p.WitnessQuorum = keep, 1, 1
			p.Witnesses = withoutNodesOf(p.Witnesses, "qa")
		}, []string{`! ruling quorum: 2 -> 1`, `! witness quorum: 2 -> 1`, `! node witness: removed qa-node+`, `! party qa: removed mediator (`}},
		{"party renamed", func(p *mvmv1.Agreement) { partyOf(t, p, "pk").Name = "renamed" }, []string{`  party pk name: `}},
		{"sealed bodies turned on", func(p *mvmv1.Agreement) { p.SealedBodies = true }, []string{`! sealed bodies: false -> true`}},
		{"evidence needs files turned on", func(p *mvmv1.Agreement) { p.EvidenceNeedsFiles = true }, []string{`! evidence needs files: false -> true`}},
		{"encryption key rotated", func(p *mvmv1.Agreement) {
			partyOf(t, p, "af").EncryptionKey = partyOf(t, other.proto, "af").EncryptionKey
		}, []string{`! party af encryption key: ` + keyID(t, partyOf(t, k.proto, "af").EncryptionKey) + ` -> ` + keyID(t, partyOf(t, other.proto, "af").EncryptionKey)}},
		{"encryption key removed", func(p *mvmv1.Agreement) { partyOf(t, p, "tr").EncryptionKey = nil }, []string{`! party tr encryption key: removed `}},
		// A field this version does not know (one added to the format
		// later, as the signer's parser keeps it) is still shown.
		{"a field unknown to this version", func(p *mvmv1.Agreement) {
			p.ProtoReflect().SetUnknown(protowire.AppendVarint(protowire.AppendTag(nil, 99, protowire.VarintType), 1))
		}, []string{`! other fields: as in force -> changed`}},
		{"a party field unknown to this version", func(p *mvmv1.Agreement) {
			partyOf(t, p, "af").ProtoReflect().SetUnknown(protowire.AppendVarint(protowire.AppendTag(nil, 99, protowire.VarintType), 1))
		}, []string{`! other fields: as in force -> changed`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := proto.Clone(k.proto).(*mvmv1.Agreement)
			tc.edit(p)
			next, err := agreement.Parse(p, 3)
			if err != nil {
				t.Fatalf("proposed agreement does not parse: %v", err)
			}
			got := agreement.Diff(k.ag, next)
			var lines []string
			for _, c := range got {
				lines = append(lines, c.String())
			}
			if len(lines) != len(tc.want) {
				t.Fatalf("got %d changes %q, want %d %q", len(lines), lines, len(tc.want), tc.want)
			}
			for i, w := range tc.want {
				if !strings.HasPrefix(lines[i], w) {
					t.Errorf("change %d: got %q, want prefix %q", i, lines[i], w)
				}
			}
			sec := 0
			for _, w := range tc.want {
				if strings.HasPrefix(w, "!") {
					sec++
				}
			}
			if n := agreement.SecurityChanges(got); n != sec {
				t.Errorf("SecurityChanges: got %d, want %d", n, sec)
			}
		})
	}
}

func partyOf(t *testing.T, p *mvmv1.Agreement, id string) *mvmv1.Party {
	t.Helper()
	for _, pp := range p.Parties {
		if pp.Id == id {
			return pp
		}
	}
	t.Fatalf("no party %s", id)
	return nil
}

func keyID(t *testing.T, b []byte) string {
	t.Helper()
	k, err := seal.ParsePublicKey(b)
	if err != nil {
		t.Fatal(err)
	}
	return k.ID()
}
