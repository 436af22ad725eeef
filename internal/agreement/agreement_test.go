package agreement_test

import (
	"bytes"
	"crypto"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/mvm-exchange/mvm/internal/agreement"
	"github.com/mvm-exchange/mvm/internal/devpki"
	"github.com/mvm-exchange/mvm/internal/envelope"
	"github.com/mvm-exchange/mvm/internal/identity"
	"github.com/mvm-exchange/mvm/internal/seal"
	mvmv1 "github.com/mvm-exchange/mvm/proto/mvm/v1"
)

// genTime is when the test PKIs are generated: certificates are valid from
// genTime-1h for two years (CAs ten).
var genTime = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// at is a time at which every dev certificate is valid.
var at = genTime.Add(24 * time.Hour)

// dev identities: name → party.
var devClients = []struct{ name, party string }{
	{"pk-liaison", "pk"},
	{"af-interior", "af"},
	{"tr-verifier", "tr"},
	{"qa-verifier", "qa"},
}

type pki struct {
	dir   string
	env   *mvmv1.Envelope
	proto *mvmv1.Agreement
	ag    *agreement.Agreement
}

func newPKI(t *testing.T) *pki {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "certs")
	if err := devpki.Generate(devpki.Options{Dir: dir, Now: genTime}); err != nil {
		t.Fatalf("devpki.Generate: %v", err)
	}
	raw, err := os.ReadFile(filepath.Join(dir, "agreement.envelope"))
	if err != nil {
		t.Fatal(err)
	}
	ag, env, err := agreement.FromEnvelope(raw, 0)
	if err != nil {
		t.Fatalf("agreement.FromEnvelope: %v", err)
	}
	p := ag.Proto
	return &pki{dir: dir, env: env, proto: p, ag: ag}
}

func (k *pki) cert(t *testing.T, name string) *x509.Certificate {
	t.Helper()
	tc, err := devpki.LoadKeyPair(k.dir, name)
	if err != nil {
		t.Fatal(err)
	}
	return tc.Leaf
}

func (k *pki) signer(t *testing.T, name string) envelope.Signer {
	t.Helper()
	tc, err := devpki.LoadKeyPair(k.dir, name)
	if err != nil {
		t.Fatal(err)
	}
	return envelope.Signer{Key: tc.PrivateKey.(crypto.Signer), Certificate: tc.Leaf, EmbedCertificate: true}
}

func (k *pki) issue(t *testing.T, name, party string, o devpki.IssueOptions) *x509.Certificate {
	t.Helper()
	if err := devpki.Issue(k.dir, name, party, o); err != nil {
		t.Fatalf("devpki.Issue(%s): %v", name, err)
	}
	return k.cert(t, name)
}

func TestParseDevAgreement(t *testing.T) {
	k := newPKI(t)
	ag := k.ag
	if got, want := ag.TrustDomain, devpki.DefaultTrustDomain; got != want {
		t.Errorf("TrustDomain: got %v, want %v", got, want)
	}
	if got, want := ag.LogOrigin, devpki.DefaultLogOrigin; got != want {
		t.Errorf("LogOrigin: got %v, want %v", got, want)
	}
	if got, want := ag.RulingQuorum, 2; got != want {
		t.Errorf("RulingQuorum: got %v, want %v", got, want)
	}
	if got, want := ag.WitnessQuorum, 2; got != want {
		t.Errorf("WitnessQuorum: got %v, want %v", got, want)
	}
	roles := map[string]mvmv1.Role{"pk": mvmv1.Role_ROLE_SUBMITTER, "af": mvmv1.Role_ROLE_RESPONDER,
		"tr": mvmv1.Role_ROLE_MEDIATOR, "qa": mvmv1.Role_ROLE_MEDIATOR, "zz": mvmv1.Role_ROLE_UNSPECIFIED}
	for party, want := range roles {
		if got := ag.RoleOf(party); got != want {
			t.Errorf("RoleOf(%s): got %v, want %v", party, got, want)
		}
	}
	var order []string
	for _, p := range ag.Parties() {
		order = append(order, p.ID)
	}
	if got, want := strings.Join(order, ","), "pk,af,tr,qa"; got != want {
		t.Errorf("Parties order: got %v, want %v", got, want)
	}
	if got, want := strings.Join(ag.PartiesWithRole(mvmv1.Role_ROLE_MEDIATOR), ","), "qa,tr"; got != want {
		t.Errorf("PartiesWithRole(mediator): got %v, want %v", got, want)
	}
	if got, want := len(ag.CosignerKeys()), 2; got != want {
		t.Errorf("CosignerKeys: got %v parties, want %v", got, want)
	}
	for _, r := range []struct {
		r    mvmv1.Role
		want string
	}{{mvmv1.Role_ROLE_SUBMITTER, "submitter"}, {mvmv1.Role_ROLE_RESPONDER, "responder"},
		{mvmv1.Role_ROLE_MEDIATOR, "mediator"}, {mvmv1.Role_ROLE_UNSPECIFIED, "none"}, {mvmv1.Role(42), "none"}} {
		if got := agreement.RoleName(r.r); got != r.want {
			t.Errorf("RoleName(%v): got %v, want %v", r.r, got, r.want)
		}
	}
}

func TestParseRejects(t *testing.T) {
	k := newPKI(t)
	leafDER := k.cert(t, "pk-liaison").Raw
	find := func(p *mvmv1.Agreement, id string) *mvmv1.Party {
		for _, pp := range p.Parties {
			if pp.Id == id {
				return pp
			}
		}
		t.Fatalf("no party %s", id)
		return nil
	}
	remove := func(p *mvmv1.Agreement, ids ...string) {
		var keep []*mvmv1.Party
		for _, pp := range p.Parties {
			drop := false
			for _, id := range ids {
				drop = drop || pp.Id == id
			}
			if !drop {
				keep = append(keep, pp)
			}
		}
		p.Parties = keep
		// A mediator goes with its node (a witness of the party).
		p.Witnesses = withoutNodesOf(p.Witnesses, ids...)
	}
	dur := func(d time.Duration) *durationpb.Duration { return durationpb.New(d) }
	tests := []struct {
		name   string
		mutate func(p *mvmv1.Agreement)
		ok     bool
	}{
		{"unchanged", func(p *mvmv1.Agreement) {}, true},
		{"ruling quorum equal to the mediators", func(p *mvmv1.Agreement) { p.RulingQuorum = 2 }, true},
		{"witness quorum 0", func(p *mvmv1.Agreement) { p.WitnessQuorum = 0 }, true},
		{"one mediator, quorum 1", func(p *mvmv1.Agreement) {
			remove(p, "qa")
			p.RulingQuorum, p.WitnessQuorum = 1, 1
		}, true},
		{"two CAs for a party", func(p *mvmv1.Agreement) {
			pk := find(p, "pk")
			pk.CaCertificates = append(pk.CaCertificates, find(p, "af").CaCertificates[0])
		}, true},

		{"no trust domain", func(p *mvmv1.Agreement) { p.TrustDomain = "" }, false},
		{"no log origin", func(p *mvmv1.Agreement) { p.LogOrigin = "" }, false},
		{"no parties", func(p *mvmv1.Agreement) { p.Parties = nil }, false},
		{"no submitter", func(p *mvmv1.Agreement) { remove(p, "pk") }, false},
		{"no responder", func(p *mvmv1.Agreement) { remove(p, "af") }, false},
		{"no mediator", func(p *mvmv1.Agreement) {
			remove(p, "tr", "qa")
			p.RulingQuorum, p.WitnessQuorum = 0, 0
		}, false},
		{"duplicate party", func(p *mvmv1.Agreement) {
			p.Parties = append(p.Parties, proto.Clone(find(p, "pk")).(*mvmv1.Party))
		}, false},
		{"duplicate party id with another role", func(p *mvmv1.Agreement) {
			dup := proto.Clone(find(p, "tr")).(*mvmv1.Party)
			dup.Id = "af"
			p.Parties = append(p.Parties, dup)
		}, false},
		{"invalid party id", func(p *mvmv1.Agreement) { find(p, "pk").Id = "PK" }, false},
		{"empty party id", func(p *mvmv1.Agreement) { find(p, "pk").Id = "" }, false},
		{"role unspecified", func(p *mvmv1.Agreement) { find(p, "qa").Role = mvmv1.Role_ROLE_UNSPECIFIED }, false},
		{"unknown role value", func(p *mvmv1.Agreement) { find(p, "qa").Role = mvmv1.Role(7) }, false},
		{"no CA", func(p *mvmv1.Agreement) { find(p, "af").CaCertificates = nil }, false},
		{"CA not DER", func(p *mvmv1.Agreement) { find(p, "af").CaCertificates = [][]byte{[]byte("not a certificate")} }, false},
		{"non-CA certificate", func(p *mvmv1.Agreement) { find(p, "pk").CaCertificates = [][]byte{leafDER} }, false},
		{"second CA is not a CA", func(p *mvmv1.Agreement) {
			pk := find(p, "pk")
			pk.CaCertificates = append(pk.CaCertificates, leafDER)
		}, false},
		{"ruling quorum above the mediators", func(p *mvmv1.Agreement) { p.RulingQuorum = 3 }, false},
		{"witness quorum above the mediators with keys", func(p *mvmv1.Agreement) { p.WitnessQuorum = 3 }, false},
		{"witness quorum above the mediators with keys (one keyless)", func(p *mvmv1.Agreement) {
			find(p, "qa").CosignerKeys = nil
			p.Witnesses = withoutNodesOf(p.Witnesses, "qa")
			p.WitnessQuorum = 2
		}, false},
		// A mediator without cosigner keys still votes by its node.
		{"witness quorum reached by a keyless mediator's node", func(p *mvmv1.Agreement) {
			find(p, "qa").CosignerKeys = nil
			p.WitnessQuorum = 2
		}, true},
		{"witness quorum above the mediators with keys or nodes", func(p *mvmv1.Agreement) {
			find(p, "qa").CosignerKeys = nil
			p.WitnessQuorum = 3
		}, false},
		// Two nodes of one party are still one vote.
		{"witness quorum counting a party's nodes twice", func(p *mvmv1.Agreement) {
			p.Witnesses = withoutNodesOf(p.Witnesses, "qa")
			for _, w := range p.Witnesses {
				w.Party = "tr"
			}
			find(p, "qa").CosignerKeys = nil
			p.WitnessQuorum = 2
		}, false},
		{"acknowledge deadline zero", func(p *mvmv1.Agreement) { p.Deadlines.Acknowledge = dur(0) }, false},
		{"acknowledge deadline negative", func(p *mvmv1.Agreement) { p.Deadlines.Acknowledge = dur(-time.Hour) }, false},
		{"action report deadline zero", func(p *mvmv1.Agreement) { p.Deadlines.ActionReport = dur(0) }, false},
		{"evidence deadline negative", func(p *mvmv1.Agreement) { p.Deadlines.Evidence = dur(-time.Second) }, false},
		{"evidence deadline with mixed signs", func(p *mvmv1.Agreement) {
			p.Deadlines.Evidence = &durationpb.Duration{Seconds: 10, Nanos: -1}
		}, false},
		{"action report deadline out of range", func(p *mvmv1.Agreement) {
			p.Deadlines.ActionReport = &durationpb.Duration{Seconds: 315_576_000_001}
		}, false},
		{"acknowledge deadline with nanos out of range", func(p *mvmv1.Agreement) {
			p.Deadlines.Acknowledge = &durationpb.Duration{Seconds: 1, Nanos: 1_000_000_000}
		}, false},
		{"sealed with every party's key", func(p *mvmv1.Agreement) { p.SealedBodies = true }, true},
		{"unsealed without keys", func(p *mvmv1.Agreement) {
			for _, pp := range p.Parties {
				pp.EncryptionKey = nil
			}
		}, true},
		{"sealed, a party without key", func(p *mvmv1.Agreement) {
			p.SealedBodies = true
			find(p, "qa").EncryptionKey = nil
		}, false},
		{"encryption key truncated", func(p *mvmv1.Agreement) {
			af := find(p, "af")
			af.EncryptionKey = af.EncryptionKey[:100]
		}, false},
		{"encryption key not a key (unsealed too)", func(p *mvmv1.Agreement) {
			find(p, "af").EncryptionKey = bytes.Repeat([]byte{0xff}, seal.PublicKeySize)
		}, false},
		{"two parties share an encryption key", func(p *mvmv1.Agreement) {
			find(p, "tr").EncryptionKey = find(p, "qa").EncryptionKey
		}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := proto.Clone(k.proto).(*mvmv1.Agreement)
			tt.mutate(p)
			before := proto.Clone(p)
			ag, err := agreement.Parse(p, 7)
			if !proto.Equal(before, p) {
				t.Errorf("Parse modified its input")
			}
			if tt.ok {
				if err != nil {
					t.Fatalf("Parse: got %v, want nil", err)
				}
				if ag.Index != 7 {
					t.Errorf("Index: got %v, want %v", ag.Index, 7)
				}
				return
			}
			if !errors.Is(err, agreement.ErrInvalid) {
				t.Errorf("Parse: got %v, want %v", err, agreement.ErrInvalid)
			}
			if ag != nil {
				t.Errorf("Parse returned an agreement with an error")
			}
		})
	}
}

func TestParseDefaults(t *testing.T) {
	k := newPKI(t)
	tests := []struct {
		name      string
		deadlines *mvmv1.Deadlines
		quorum    uint32
		want      agreement.Deadlines
		wantQ     int
	}{
		{"no deadlines", nil, 0,
			agreement.Deadlines{Acknowledge: 24 * time.Hour, ActionReport: 7 * 24 * time.Hour, Evidence: 10 * 24 * time.Hour}, 1},
		{"empty deadlines", &mvmv1.Deadlines{}, 1,
			agreement.Deadlines{Acknowledge: 24 * time.Hour, ActionReport: 7 * 24 * time.Hour, Evidence: 10 * 24 * time.Hour}, 1},
		{"only acknowledge set", &mvmv1.Deadlines{Acknowledge: durationpb.New(2 * time.Hour)}, 2,
			agreement.Deadlines{Acknowledge: 2 * time.Hour, ActionReport: 7 * 24 * time.Hour, Evidence: 10 * 24 * time.Hour}, 2},
		{"only evidence set", &mvmv1.Deadlines{Evidence: durationpb.New(time.Nanosecond)}, 0,
			agreement.Deadlines{Acknowledge: 24 * time.Hour, ActionReport: 7 * 24 * time.Hour, Evidence: time.Nanosecond}, 1},
		{"all set", &mvmv1.Deadlines{Acknowledge: durationpb.New(time.Minute), ActionReport: durationpb.New(time.Hour),
			Evidence: durationpb.New(3 * time.Hour)}, 2,
			agreement.Deadlines{Acknowledge: time.Minute, ActionReport: time.Hour, Evidence: 3 * time.Hour}, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := proto.Clone(k.proto).(*mvmv1.Agreement)
			p.Deadlines = tt.deadlines
			p.RulingQuorum = tt.quorum
			ag, err := agreement.Parse(p, 0)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if ag.Deadlines != tt.want {
				t.Errorf("Deadlines: got %+v, want %+v", ag.Deadlines, tt.want)
			}
			if ag.RulingQuorum != tt.wantQ {
				t.Errorf("RulingQuorum: got %v, want %v", ag.RulingQuorum, tt.wantQ)
			}
		})
	}
	if agreement.DefaultAcknowledge != 24*time.Hour || agreement.DefaultActionReport != 168*time.Hour || agreement.DefaultEvidence != 240*time.Hour {
		t.Errorf("defaults: got %v/%v/%v, want 24h/168h/240h", agreement.DefaultAcknowledge, agreement.DefaultActionReport, agreement.DefaultEvidence)
	}
}

func TestAuthenticate(t *testing.T) {
	k := newPKI(t)
	other := newPKI(t) // an unrelated PKI with the same trust domain and party names
	now := time.Now()

	t.Run("dev identities", func(t *testing.T) {
		for _, c := range devClients {
			for _, when := range []time.Time{genTime.Add(-time.Hour), at, genTime.Add(-time.Hour).AddDate(2, 0, 0)} {
				id, party, err := k.ag.Authenticate(k.cert(t, c.name), nil, when)
				if err != nil {
					t.Errorf("Authenticate(%s) at %v: got %v, want nil", c.name, when, err)
					continue
				}
				want := identity.Identity{TrustDomain: "mvm.example", Party: c.party, Name: c.name}
				if id != want {
					t.Errorf("Authenticate(%s): identity got %+v, want %+v", c.name, id, want)
				}
				if party == nil || party.ID != c.party {
					t.Errorf("Authenticate(%s): party got %+v, want %v", c.name, party, c.party)
				}
			}
		}
	})

	wrongDomain := k.issue(t, "pk-elsewhere", "pk", devpki.IssueOptions{URIs: []string{"spiffe://other.example/party/pk/pk-elsewhere"}})
	unknownParty := k.issue(t, "xx-one", "xx", devpki.IssueOptions{CAParty: "pk"})
	crossParty := k.issue(t, "evil", "af", devpki.IssueOptions{CAParty: "pk"})
	crossMediator := k.issue(t, "evil-tr", "tr", devpki.IssueOptions{CAParty: "qa"})
	expired := k.issue(t, "pk-expired", "pk", devpki.IssueOptions{NotBefore: now.Add(-48 * time.Hour), NotAfter: now.Add(-24 * time.Hour)})
	future := k.issue(t, "pk-future", "pk", devpki.IssueOptions{NotBefore: now.Add(24 * time.Hour), NotAfter: now.Add(48 * time.Hour)})
	noURI := k.issue(t, "pk-nouri", "pk", devpki.IssueOptions{URIs: []string{}})
	twoURIs := k.issue(t, "pk-two", "pk", devpki.IssueOptions{URIs: []string{
		"spiffe://mvm.example/party/pk/pk-two", "spiffe://mvm.example/party/af/pk-two"}})
	extra := k.issue(t, "pk-second", "pk", devpki.IssueOptions{})

	tests := []struct {
		name string
		cert *x509.Certificate
		at   time.Time
		ok   bool
	}{
		{"a second pk identity", extra, now, true},
		{"expired certificate, inside its validity", expired, now.Add(-36 * time.Hour), true},
		{"wrong trust domain", wrongDomain, now, false},
		{"unknown party", unknownParty, now, false},
		{"cross-party CA (pk CA issues af)", crossParty, now, false},
		{"cross-mediator CA (qa CA issues tr)", crossMediator, now, false},
		{"expired certificate", expired, now, false},
		{"not yet valid certificate", future, now, false},
		{"dev identity before its validity", k.cert(t, "pk-liaison"), genTime.Add(-time.Hour - time.Second), false},
		{"dev identity after its validity", k.cert(t, "pk-liaison"), genTime.Add(-time.Hour).AddDate(2, 0, 0).Add(time.Second), false},
		{"no URI SAN", noURI, now, false},
		{"two URI SANs", twoURIs, now, false},
		{"same names, another PKI", other.cert(t, "pk-liaison"), at, false},
		{"server certificate", k.cert(t, "server"), at, false},
		{"a party CA itself", k.cert(t, "ca-pk"), at, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, party, err := k.ag.Authenticate(tt.cert, nil, tt.at)
			if tt.ok {
				if err != nil {
					t.Errorf("Authenticate: got %v, want nil", err)
				}
				return
			}
			if !errors.Is(err, agreement.ErrUntrusted) {
				t.Errorf("Authenticate: got %v, want %v", err, agreement.ErrUntrusted)
			}
			if party != nil {
				t.Errorf("Authenticate: got party %v with an error", party.ID)
			}
		})
	}
}

func (k *pki) seal(t *testing.T, p *mvmv1.Agreement, names ...string) *mvmv1.Envelope {
	t.Helper()
	var signers []envelope.Signer
	for _, n := range names {
		signers = append(signers, k.signer(t, n))
	}
	raw, err := envelope.Seal(p, signers...)
	if err != nil {
		t.Fatal(err)
	}
	env, err := envelope.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	return env
}

func TestVerifyAllSigned(t *testing.T) {
	k := newPKI(t)
	other := newPKI(t)
	k.issue(t, "evil", "af", devpki.IssueOptions{CAParty: "pk", NotBefore: genTime})

	t.Run("dev agreement, all four", func(t *testing.T) {
		signers, err := agreement.VerifyAllSigned(k.env, at, k.ag)
		if err != nil {
			t.Fatalf("VerifyAllSigned: got %v, want nil", err)
		}
		var got []string
		for _, s := range signers {
			got = append(got, s.String())
		}
		if want := "pk/pk-liaison,af/af-interior,tr/tr-verifier,qa/qa-verifier"; strings.Join(got, ",") != want {
			t.Errorf("signers: got %v, want %v", strings.Join(got, ","), want)
		}
	})

	all := []string{"pk-liaison", "af-interior", "tr-verifier", "qa-verifier"}
	for i, missing := range all {
		party := devClients[i].party
		t.Run("missing "+party, func(t *testing.T) {
			var names []string
			for _, n := range all {
				if n != missing {
					names = append(names, n)
				}
			}
			env := k.seal(t, k.proto, names...)
			_, err := agreement.VerifyAllSigned(env, at, k.ag)
			if !errors.Is(err, agreement.ErrUnsigned) {
				t.Fatalf("VerifyAllSigned: got %v, want %v", err, agreement.ErrUnsigned)
			}
			if !strings.Contains(err.Error(), "missing "+party) {
				t.Errorf("error %q does not name the missing party %s", err, party)
			}
		})
	}

	t.Run("one party twice, another missing", func(t *testing.T) {
		env := k.seal(t, k.proto, "pk-liaison", "pk-liaison", "tr-verifier", "qa-verifier")
		_, err := agreement.VerifyAllSigned(env, at, k.ag)
		if !errors.Is(err, agreement.ErrUnsigned) || !strings.Contains(err.Error(), "af") {
			t.Errorf("VerifyAllSigned: got %v, want %v naming af", err, agreement.ErrUnsigned)
		}
	})

	t.Run("extra signature by a second identity of a party", func(t *testing.T) {
		k.issue(t, "pk-second", "pk", devpki.IssueOptions{NotBefore: genTime})
		env := k.seal(t, k.proto, append([]string{"pk-second"}, all...)...)
		if _, err := agreement.VerifyAllSigned(env, at, k.ag); err != nil {
			t.Errorf("VerifyAllSigned: got %v, want nil", err)
		}
	})

	for i := range all {
		t.Run("signature "+all[i]+" bad", func(t *testing.T) {
			env := k.seal(t, k.proto, all...)
			env.Signatures[i].Sig[0] ^= 1
			_, err := agreement.VerifyAllSigned(env, at, k.ag)
			if !errors.Is(err, envelope.ErrBadSignature) {
				t.Errorf("VerifyAllSigned: got %v, want %v", err, envelope.ErrBadSignature)
			}
		})
	}

	t.Run("payload changed after signing", func(t *testing.T) {
		env := k.seal(t, k.proto, all...)
		env.Payload = append(env.Payload, 0x40, 0x01) // amends_index = 1
		if _, err := agreement.VerifyAllSigned(env, at, k.ag); !errors.Is(err, envelope.ErrBadSignature) {
			t.Errorf("VerifyAllSigned: got %v, want %v", err, envelope.ErrBadSignature)
		}
	})

	t.Run("certificate not embedded", func(t *testing.T) {
		env := k.seal(t, k.proto, all...)
		env.Signatures[2].Certificate = nil
		if _, err := agreement.VerifyAllSigned(env, at, k.ag); !errors.Is(err, agreement.ErrUnsigned) {
			t.Errorf("VerifyAllSigned: got %v, want %v", err, agreement.ErrUnsigned)
		}
	})

	t.Run("af signature by a pk-issued af identity", func(t *testing.T) {
		env := k.seal(t, k.proto, "pk-liaison", "evil", "tr-verifier", "qa-verifier")
		if _, err := agreement.VerifyAllSigned(env, at, k.ag); !errors.Is(err, agreement.ErrUntrusted) {
			t.Errorf("VerifyAllSigned: got %v, want %v", err, agreement.ErrUntrusted)
		}
	})

	t.Run("signatures from another PKI", func(t *testing.T) {
		if _, err := agreement.VerifyAllSigned(other.env, at, k.ag); !errors.Is(err, agreement.ErrUntrusted) {
			t.Errorf("VerifyAllSigned: got %v, want %v", err, agreement.ErrUntrusted)
		}
	})

	t.Run("signers expired at the time", func(t *testing.T) {
		late := genTime.AddDate(3, 0, 0)
		if _, err := agreement.VerifyAllSigned(k.env, late, k.ag); !errors.Is(err, agreement.ErrUntrusted) {
			t.Errorf("VerifyAllSigned: got %v, want %v", err, agreement.ErrUntrusted)
		}
	})

	t.Run("every party of every agreement", func(t *testing.T) {
		// An amendment that drops qa must still be signed by qa, because
		// qa is a party of the agreement in force.
		p := proto.Clone(k.proto).(*mvmv1.Agreement)
		p.Parties = p.Parties[:3]
		p.Witnesses = withoutNodesOf(p.Witnesses, "qa")
		p.RulingQuorum, p.WitnessQuorum = 1, 1
		next, err := agreement.Parse(p, 5)
		if err != nil {
			t.Fatal(err)
		}
		env := k.seal(t, p, "pk-liaison", "af-interior", "tr-verifier")
		if _, err := agreement.VerifyAllSigned(env, at, next); err != nil {
			t.Errorf("VerifyAllSigned(new only): got %v, want nil", err)
		}
		_, err = agreement.VerifyAllSigned(env, at, next, k.ag)
		if !errors.Is(err, agreement.ErrUnsigned) || !strings.Contains(err.Error(), "qa") {
			t.Errorf("VerifyAllSigned(new, current): got %v, want %v naming qa", err, agreement.ErrUnsigned)
		}
		env = k.seal(t, p, all...)
		if _, err := agreement.VerifyAllSigned(env, at, next, k.ag); err != nil {
			t.Errorf("VerifyAllSigned(new, current) signed by all: got %v, want nil", err)
		}
	})
}

// Authenticate caches successful verifications; the cache must not let a
// certificate through outside its validity, nor across agreements.
func TestAuthenticateCacheRespectsTime(t *testing.T) {
	k := newPKI(t)
	other := newPKI(t)
	now := time.Now()
	short := k.issue(t, "pk-short", "pk", devpki.IssueOptions{NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour)})
	steps := []struct {
		name string
		at   time.Time
		ok   bool
	}{
		{"valid (fills the cache)", now, true},
		{"valid again", now.Add(30 * time.Minute), true},
		{"exactly at NotAfter", short.NotAfter, true},
		{"just after NotAfter", short.NotAfter.Add(time.Second), false},
		{"just before NotBefore", short.NotBefore.Add(-time.Second), false},
		{"exactly at NotBefore", short.NotBefore, true},
		{"valid once more", now, true},
	}
	for _, s := range steps {
		_, _, err := k.ag.Authenticate(short, nil, s.at)
		if s.ok && err != nil {
			t.Errorf("%s: got %v, want nil", s.name, err)
		}
		if !s.ok && !errors.Is(err, agreement.ErrUntrusted) {
			t.Errorf("%s: got %v, want %v", s.name, err, agreement.ErrUntrusted)
		}
	}
	// Verified under k's agreement; still unknown to another agreement.
	if _, _, err := other.ag.Authenticate(short, nil, now); !errors.Is(err, agreement.ErrUntrusted) {
		t.Errorf("another agreement after a cached success: got %v, want %v", err, agreement.ErrUntrusted)
	}
	// A cached dev identity is refused once its own validity has ended.
	dev := k.cert(t, "af-interior")
	if _, _, err := k.ag.Authenticate(dev, nil, at); err != nil {
		t.Fatalf("dev identity: %v", err)
	}
	if _, _, err := k.ag.Authenticate(dev, nil, dev.NotAfter.Add(time.Nanosecond)); !errors.Is(err, agreement.ErrUntrusted) {
		t.Errorf("dev identity after NotAfter (cached): got %v, want %v", err, agreement.ErrUntrusted)
	}
}

// TestAuthenticateCacheBounded: a party minting certificates from its own
// CA fills the chain cache only up to its bound, and a certificate pushed
// out is verified again, not refused.
func TestAuthenticateCacheBounded(t *testing.T) {
	defer agreement.SetChainCacheSize(8)()
	k := newPKI(t)
	var certs []*x509.Certificate
	for i := range 24 {
		certs = append(certs, k.issue(t, fmt.Sprintf("pk-minted-%d", i), "pk", devpki.IssueOptions{NotBefore: genTime}))
	}
	for i, c := range certs {
		if _, _, err := k.ag.Authenticate(c, nil, at); err != nil {
			t.Fatalf("certificate %d: %v", i, err)
		}
		if n := k.ag.CachedChains(); n > 8 {
			t.Fatalf("after %d certificates the cache holds %d verifications, want at most 8", i+1, n)
		}
	}
	if _, _, err := k.ag.Authenticate(certs[0], nil, at); err != nil {
		t.Errorf("the first certificate, evicted from the cache: %v", err)
	}
}

// withoutNodesOf returns ws without the nodes of the parties ids.
func withoutNodesOf(ws []*mvmv1.Witness, ids ...string) []*mvmv1.Witness {
	var keep []*mvmv1.Witness
	for _, w := range ws {
		if !slices.Contains(ids, w.Party) {
			keep = append(keep, w)
		}
	}
	return keep
}
