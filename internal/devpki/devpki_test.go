package devpki

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	fnote "github.com/transparency-dev/formats/note"
	"golang.org/x/mod/sumdb/note"
	"google.golang.org/protobuf/proto"

	"github.com/mvm-exchange/mvm/internal/agreement"
	"github.com/mvm-exchange/mvm/internal/envelope"
	"github.com/mvm-exchange/mvm/internal/identity"
	mvmv1 "github.com/mvm-exchange/mvm/proto/mvm/v1"
)

var now = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// clients of the dev PKI: name → party.
var clients = []struct{ name, party string }{
	{"pk-liaison", "pk"},
	{"af-interior", "af"},
	{"tr-verifier", "tr"},
	{"qa-verifier", "qa"},
}

func generate(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "certs")
	if err := Generate(Options{Dir: dir, Now: now}); err != nil {
		t.Fatalf("Generate: %v", err)
	}
	return dir
}

func loadCert(t *testing.T, dir, name string) *x509.Certificate {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, name+".crt"))
	if err != nil {
		t.Fatal(err)
	}
	blk, rest := pem.Decode(b)
	if blk == nil || blk.Type != "CERTIFICATE" || len(bytes.TrimSpace(rest)) != 0 {
		t.Fatalf("%s.crt is not exactly one PEM certificate", name)
	}
	c, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// loadAgreement parses, decodes and verifies DIR/agreement.envelope.
func loadAgreement(t *testing.T, dir string) (*mvmv1.Envelope, *mvmv1.Agreement, *agreement.Agreement) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "agreement.envelope"))
	if err != nil {
		t.Fatal(err)
	}
	env, err := envelope.Parse(b)
	if err != nil {
		t.Fatalf("envelope.Parse: %v", err)
	}
	if env.PayloadType != "mvm.v1.Agreement" {
		t.Fatalf("payload type %q", env.PayloadType)
	}
	p := &mvmv1.Agreement{}
	if err := proto.Unmarshal(env.Payload, p); err != nil {
		t.Fatal(err)
	}
	ag, err := agreement.Parse(p, 0)
	if err != nil {
		t.Fatalf("agreement.Parse: %v", err)
	}
	return env, p, ag
}

func TestGenerateFiles(t *testing.T) {
	dir := generate(t)
	want := []string{
		"agreement.envelope", "agreement.txt",
		"log.key", "log.vkey",
		"tr-verifier.cosign.key", "tr-verifier.cosign.vkey",
		"qa-verifier.cosign.key", "qa-verifier.cosign.vkey",
		"seal-pk.key", "seal-af.key", "seal-tr.key", "seal-qa.key",
		"tr-node.cosign.key", "tr-node.cosign.vkey", "qa-node.cosign.key", "qa-node.cosign.vkey",
	}
	for _, n := range []string{"ca-pk", "ca-af", "ca-tr", "ca-qa", "ca-server", "server", "pk-liaison", "af-interior", "tr-verifier", "qa-verifier", "tr-node", "qa-node", "tr-node-server", "qa-node-server"} {
		want = append(want, n+".crt", n+".key")
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range entries {
		got = append(got, e.Name())
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("files:\n got %q\nwant %q", got, want)
	}
	for _, n := range got {
		fi, err := os.Stat(filepath.Join(dir, n))
		if err != nil {
			t.Fatal(err)
		}
		wantMode := os.FileMode(0o644)
		if strings.HasSuffix(n, ".key") {
			wantMode = 0o600
		}
		if fi.Mode().Perm() != wantMode {
			t.Errorf("%s: mode %v, want %v", n, fi.Mode().Perm(), wantMode)
		}
	}
	txt, err := os.ReadFile(filepath.Join(dir, "agreement.txt"))
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"MVM dev agreement", "Türkiye", "ROLE_MEDIATOR", "agreement-genesis", "spiffe://mvm.example/party/qa/qa-verifier"} {
		if !strings.Contains(string(txt), s) {
			t.Errorf("agreement.txt lacks %q", s)
		}
	}
}

func TestCertificates(t *testing.T) {
	dir := generate(t)
	for _, ca := range []string{"ca-pk", "ca-af", "ca-tr", "ca-qa", "ca-server"} {
		c := loadCert(t, dir, ca)
		if !c.IsCA || c.NotAfter.Sub(c.NotBefore) < 9*365*24*time.Hour {
			t.Errorf("%s: IsCA=%v validity %v", ca, c.IsCA, c.NotAfter.Sub(c.NotBefore))
		}
		if _, err := LoadKeyPair(dir, ca); err != nil {
			t.Errorf("%s: %v", ca, err)
		}
	}
	for _, c := range clients {
		t.Run(c.name, func(t *testing.T) {
			kp, err := LoadKeyPair(dir, c.name)
			if err != nil {
				t.Fatal(err)
			}
			cert := kp.Leaf
			id, err := identity.Parse(cert)
			if err != nil {
				t.Fatal(err)
			}
			if want := (identity.Identity{TrustDomain: "mvm.example", Party: c.party, Name: c.name}); id != want {
				t.Fatalf("identity %+v, want %+v", id, want)
			}
			if cert.Subject.CommonName != c.name || !slices.Equal(cert.ExtKeyUsage, []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}) {
				t.Errorf("CN %q, EKU %v", cert.Subject.CommonName, cert.ExtKeyUsage)
			}
			if !cert.NotBefore.Equal(now.Add(-time.Hour)) || !cert.NotAfter.Equal(now.Add(-time.Hour).AddDate(2, 0, 0)) {
				t.Errorf("validity %v .. %v", cert.NotBefore, cert.NotAfter)
			}
			if err := cert.CheckSignatureFrom(loadCert(t, dir, "ca-"+c.party)); err != nil {
				t.Errorf("not signed by ca-%s: %v", c.party, err)
			}
		})
	}
}

func TestAgreement(t *testing.T) {
	dir := generate(t)
	env, p, ag := loadAgreement(t, dir)

	signers, err := agreement.VerifyAllSigned(env, now, ag)
	if err != nil {
		t.Fatalf("VerifyAllSigned: %v", err)
	}
	if len(signers) != 4 {
		t.Fatalf("%d signers", len(signers))
	}
	if p.Header.GetMessageId() != "agreement-genesis" || !p.Header.GetAuthoredAt().AsTime().Equal(now) {
		t.Errorf("header %v", p.Header)
	}
	if p.Title != "MVM dev agreement" || ag.TrustDomain != "mvm.example" || ag.LogOrigin != "mvm.example/exchange/dev" {
		t.Errorf("title %q trust domain %q origin %q", p.Title, ag.TrustDomain, ag.LogOrigin)
	}
	if ag.RulingQuorum != 2 || ag.WitnessQuorum != 2 {
		t.Errorf("quorums %d %d", ag.RulingQuorum, ag.WitnessQuorum)
	}
	if d := ag.Deadlines; d != (agreement.Deadlines{Acknowledge: 24 * time.Hour, ActionReport: 168 * time.Hour, Evidence: 240 * time.Hour}) {
		t.Errorf("deadlines %+v", d)
	}
	vkey, err := os.ReadFile(filepath.Join(dir, "log.vkey"))
	if err != nil {
		t.Fatal(err)
	}
	if ag.LogKey+"\n" != string(vkey) {
		t.Errorf("log_verifier_key %q, log.vkey %q", ag.LogKey, vkey)
	}

	roles := map[string]mvmv1.Role{"pk": mvmv1.Role_ROLE_SUBMITTER, "af": mvmv1.Role_ROLE_RESPONDER, "tr": mvmv1.Role_ROLE_MEDIATOR, "qa": mvmv1.Role_ROLE_MEDIATOR}
	for _, c := range clients {
		t.Run(c.name, func(t *testing.T) {
			if ag.RoleOf(c.party) != roles[c.party] {
				t.Errorf("role %v", ag.RoleOf(c.party))
			}
			party, _ := ag.Party(c.party)
			if len(party.CAs) != 1 || !party.CAs[0].Equal(loadCert(t, dir, "ca-"+c.party)) {
				t.Errorf("party CA is not ca-%s.crt", c.party)
			}
			id, got, err := ag.Authenticate(loadCert(t, dir, c.name), nil, now)
			if err != nil {
				t.Fatalf("Authenticate: %v", err)
			}
			if got.ID != c.party || id.Name != c.name {
				t.Errorf("authenticated as %s of party %s", id, got.ID)
			}
		})
	}
}

func TestLogAndCosignerKeys(t *testing.T) {
	dir := generate(t)
	_, _, ag := loadAgreement(t, dir)
	read := func(n string) string {
		b, err := os.ReadFile(filepath.Join(dir, n))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}

	// Log key: a standard signed-note key named by the origin.
	v, err := note.NewVerifier(strings.TrimSuffix(read("log.vkey"), "\n"))
	if err != nil {
		t.Fatalf("log.vkey: %v", err)
	}
	s, err := note.NewSigner(read("log.key"))
	if err != nil {
		t.Fatalf("log.key: %v", err)
	}
	if v.Name() != "mvm.example/exchange/dev" || s.Name() != v.Name() || s.KeyHash() != v.KeyHash() {
		t.Fatalf("log key names %q/%q hashes %08x/%08x", s.Name(), v.Name(), s.KeyHash(), v.KeyHash())
	}
	signed, err := note.Sign(&note.Note{Text: "mvm.example/exchange/dev\n0\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n"}, s)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := note.Open(signed, note.VerifierList(v)); err != nil {
		t.Fatalf("log signature: %v", err)
	}

	// Cosigner keys: cosignature/v1 signer and verifier, the verifier being
	// the one in the agreement.
	keys := ag.CosignerKeys()
	for _, m := range []struct{ party, name string }{{"tr", "tr-verifier"}, {"qa", "qa-verifier"}} {
		t.Run(m.name, func(t *testing.T) {
			vkey := strings.TrimSuffix(read(m.name+".cosign.vkey"), "\n")
			if !slices.Equal(keys[m.party], []string{vkey}) {
				t.Fatalf("agreement cosigner keys %q, file %q", keys[m.party], vkey)
			}
			cs, err := fnote.NewSignerForCosignatureV1(read(m.name + ".cosign.key"))
			if err != nil {
				t.Fatal(err)
			}
			cv, err := fnote.NewVerifierForCosignatureV1(vkey)
			if err != nil {
				t.Fatal(err)
			}
			if cs.Name() != m.name || cv.Name() != m.name || cs.KeyHash() != cv.KeyHash() {
				t.Fatalf("names %q/%q hashes %08x/%08x", cs.Name(), cv.Name(), cs.KeyHash(), cv.KeyHash())
			}
			cosigned, err := note.Sign(&note.Note{Text: "mvm.example/exchange/dev\n0\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n"}, cs)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := note.Open(cosigned, note.VerifierList(cv)); err != nil {
				t.Fatalf("cosignature: %v", err)
			}
		})
	}
}

func TestServerCertificate(t *testing.T) {
	dir := generate(t)
	kp, err := LoadKeyPair(dir, "server")
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(loadCert(t, dir, "ca-server"))
	for _, host := range []string{"localhost", "127.0.0.1", "::1"} {
		if _, err := kp.Leaf.Verify(x509.VerifyOptions{DNSName: host, Roots: roots, CurrentTime: now}); err != nil {
			t.Errorf("%s: %v", host, err)
		}
	}
	if _, err := kp.Leaf.Verify(x509.VerifyOptions{DNSName: "example.com", Roots: roots, CurrentTime: now}); err == nil {
		t.Error("server certificate verifies for example.com")
	}
	// A party CA does not vouch for the server.
	other := x509.NewCertPool()
	other.AddCert(loadCert(t, dir, "ca-pk"))
	if _, err := kp.Leaf.Verify(x509.VerifyOptions{DNSName: "localhost", Roots: other, CurrentTime: now}); err == nil {
		t.Error("server certificate verifies against ca-pk")
	}
}

// TestMutualTLS runs one real handshake with the generated files, the way the
// server and a client will use them.
func TestMutualTLS(t *testing.T) {
	dir := generate(t)
	_, _, ag := loadAgreement(t, dir)
	srvCert, err := LoadKeyPair(dir, "server")
	if err != nil {
		t.Fatal(err)
	}
	cliCert, err := LoadKeyPair(dir, "af-interior")
	if err != nil {
		t.Fatal(err)
	}
	clientCAs := x509.NewCertPool()
	for _, p := range ag.Parties() {
		for _, ca := range p.CAs {
			clientCAs.AddCert(ca)
		}
	}
	serverCA := x509.NewCertPool()
	serverCA.AddCert(loadCert(t, dir, "ca-server"))

	a, b := net.Pipe()
	srv := tls.Server(a, &tls.Config{Certificates: []tls.Certificate{srvCert}, ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: clientCAs, MinVersion: tls.VersionTLS13})
	cli := tls.Client(b, &tls.Config{Certificates: []tls.Certificate{cliCert}, RootCAs: serverCA, ServerName: "localhost", MinVersion: tls.VersionTLS13})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	errc := make(chan error, 1)
	go func() { errc <- srv.HandshakeContext(ctx) }()
	if err := cli.HandshakeContext(ctx); err != nil {
		t.Fatalf("client handshake: %v", err)
	}
	if err := <-errc; err != nil {
		t.Fatalf("server handshake: %v", err)
	}
	peer := srv.ConnectionState().PeerCertificates
	id, party, err := ag.Authenticate(peer[0], peer[1:], time.Now())
	if err != nil || party.ID != "af" || id.Name != "af-interior" {
		t.Fatalf("Authenticate(peer) = %v, %v, %v", id, party, err)
	}
	// Close the raw pipe: tls.Conn.Close would wait up to 5s to deliver
	// close_notify to a peer that is not reading.
	_ = a.Close()
	_ = b.Close()
}

func TestIssue(t *testing.T) {
	dir := generate(t)
	_, _, ag := loadAgreement(t, dir)
	now := time.Now() // Issue's default validity starts at the real clock
	tests := []struct {
		name, party string
		opts        IssueOptions
		ok          bool
	}{
		{"af-second", "af", IssueOptions{}, true},
		{"pk-backup", "pk", IssueOptions{NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour)}, true},
		{"evil", "af", IssueOptions{CAParty: "pk"}, false}, // pk's CA names an af identity
		{"expired", "pk", IssueOptions{NotBefore: now.Add(-48 * time.Hour), NotAfter: now.Add(-time.Hour)}, false},
		{"not-yet", "pk", IssueOptions{NotBefore: now.Add(time.Hour), NotAfter: now.Add(48 * time.Hour)}, false},
		{"no-uri", "pk", IssueOptions{URIs: []string{}}, false},
		{"two-uris", "pk", IssueOptions{URIs: []string{"spiffe://mvm.example/party/pk/two-uris", "spiffe://mvm.example/party/pk/other"}}, false},
		{"other-domain", "pk", IssueOptions{URIs: []string{"spiffe://evil.example/party/pk/other-domain"}}, false},
		{"outsider", "xx", IssueOptions{CAParty: "pk"}, false}, // not a party to the agreement
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := Issue(dir, tc.name, tc.party, tc.opts); err != nil {
				t.Fatalf("Issue: %v", err)
			}
			kp, err := LoadKeyPair(dir, tc.name)
			if err != nil {
				t.Fatal(err)
			}
			caParty := tc.opts.CAParty
			if caParty == "" {
				caParty = tc.party
			}
			if err := kp.Leaf.CheckSignatureFrom(loadCert(t, dir, "ca-"+caParty)); err != nil {
				t.Errorf("not signed by ca-%s: %v", caParty, err)
			}
			id, party, err := ag.Authenticate(kp.Leaf, nil, now)
			switch {
			case tc.ok && err != nil:
				t.Fatalf("Authenticate: %v", err)
			case tc.ok && (party.ID != tc.party || id.Name != tc.name):
				t.Fatalf("authenticated as %s of %s", id, party.ID)
			case !tc.ok && err == nil:
				t.Fatalf("Authenticate accepted %s (party %s)", id, party.ID)
			case !tc.ok && !errors.Is(err, agreement.ErrUntrusted):
				t.Fatalf("Authenticate: %v, want ErrUntrusted", err)
			}
		})
	}
}

func TestIssueRefuses(t *testing.T) {
	dir := generate(t)
	before, err := os.ReadFile(filepath.Join(dir, "pk-liaison.key"))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		desc, dir, name, party string
		opts                   IssueOptions
		want                   string
	}{
		{"existing identity", dir, "pk-liaison", "pk", IssueOptions{}, "--force"},
		{"unknown CA", dir, "x", "zz", IssueOptions{}, "ca-zz"},
		{"bad name", dir, "Bad/Name", "pk", IssueOptions{}, "not a valid identity name"},
		{"reserved name", dir, "ca-pk", "pk", IssueOptions{Force: true}, "reserved"},
		{"inverted validity", dir, "x", "pk", IssueOptions{NotBefore: now, NotAfter: now.Add(-time.Second)}, "not after"},
		{"no PKI", t.TempDir(), "x", "pk", IssueOptions{}, "generate the PKI first"},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			err := Issue(tc.dir, tc.name, tc.party, tc.opts)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Issue = %v, want an error mentioning %q", err, tc.want)
			}
		})
	}
	after, err := os.ReadFile(filepath.Join(dir, "pk-liaison.key"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(before, after) {
		t.Fatal("a refused Issue changed pk-liaison.key")
	}
	// With Force an identity can be reissued.
	if err := Issue(dir, "pk-liaison", "pk", IssueOptions{Force: true}); err != nil {
		t.Fatal(err)
	}
	if after, _ := os.ReadFile(filepath.Join(dir, "pk-liaison.key")); bytes.Equal(before, after) {
		t.Fatal("Issue with Force did not replace pk-liaison.key")
	}
}

func snapshot(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]byte{}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		out[e.Name()] = b
	}
	return out
}

func TestGenerateRefusesExisting(t *testing.T) {
	dir := generate(t)
	before := snapshot(t, dir)

	err := Generate(Options{Dir: dir, Now: now})
	if err == nil || !strings.Contains(err.Error(), "--force") {
		t.Fatalf("second Generate = %v, want an error mentioning --force", err)
	}
	after := snapshot(t, dir)
	if len(after) != len(before) {
		t.Fatalf("refused Generate changed the file set: %d → %d files", len(before), len(after))
	}
	for n, b := range before {
		if !bytes.Equal(after[n], b) {
			t.Errorf("refused Generate changed %s", n)
		}
	}

	if err := Generate(Options{Dir: dir, Now: now, Force: true}); err != nil {
		t.Fatalf("Generate with Force: %v", err)
	}
	forced := snapshot(t, dir)
	for n, b := range before {
		if bytes.Equal(forced[n], b) {
			t.Errorf("Generate with Force did not regenerate %s", n)
		}
	}
	env, _, ag := loadAgreement(t, dir)
	if _, err := agreement.VerifyAllSigned(env, now, ag); err != nil {
		t.Fatalf("regenerated agreement: %v", err)
	}
}

func TestGenerateRefusesAnyFile(t *testing.T) {
	for _, n := range []string{"ca-pk.crt", "log.key", "agreement.envelope", "qa-verifier.cosign.vkey"} {
		t.Run(n, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, n), []byte("keep me"), 0o644); err != nil {
				t.Fatal(err)
			}
			err := Generate(Options{Dir: dir})
			if err == nil || !strings.Contains(err.Error(), "--force") || !strings.Contains(err.Error(), n) {
				t.Fatalf("Generate = %v, want a refusal naming %s", err, n)
			}
			if got := snapshot(t, dir); len(got) != 1 || string(got[n]) != "keep me" {
				t.Fatalf("refused Generate wrote files: %d files", len(got))
			}
		})
	}
}

func TestGenerateOptions(t *testing.T) {
	t.Run("custom", func(t *testing.T) {
		dir := t.TempDir()
		if err := Generate(Options{Dir: dir, TrustDomain: "test.example", LogOrigin: "test.example/log", Now: now}); err != nil {
			t.Fatal(err)
		}
		env, _, ag := loadAgreement(t, dir)
		if ag.TrustDomain != "test.example" || ag.LogOrigin != "test.example/log" {
			t.Fatalf("trust domain %q origin %q", ag.TrustDomain, ag.LogOrigin)
		}
		if _, err := agreement.VerifyAllSigned(env, now, ag); err != nil {
			t.Fatal(err)
		}
		if err := Issue(dir, "pk-two", "pk", IssueOptions{}); err != nil {
			t.Fatal(err)
		}
		if id, err := identity.Parse(loadCert(t, dir, "pk-two")); err != nil || id.TrustDomain != "test.example" {
			t.Fatalf("issued identity %v, %v", id, err)
		}
	})
	// The agreement's rules follow the options, each on its own: what
	// gen-certs turns on by default and off by its flags.
	for _, o := range []Options{{}, {SealedBodies: true}, {EvidenceNeedsFiles: true}, {SealedBodies: true, EvidenceNeedsFiles: true}} {
		o.Dir, o.Now = t.TempDir(), now
		if err := Generate(o); err != nil {
			t.Fatal(err)
		}
		_, p, ag := loadAgreement(t, o.Dir)
		if p.SealedBodies != o.SealedBodies || ag.SealedBodies != o.SealedBodies ||
			p.EvidenceNeedsFiles != o.EvidenceNeedsFiles || ag.EvidenceNeedsFiles != o.EvidenceNeedsFiles {
			t.Errorf("options sealed %v, evidence needs files %v: agreement has %v, %v (parsed %v, %v)", o.SealedBodies, o.EvidenceNeedsFiles,
				p.SealedBodies, p.EvidenceNeedsFiles, ag.SealedBodies, ag.EvidenceNeedsFiles)
		}
	}
	for _, tc := range []struct {
		desc string
		o    Options
	}{
		{"no dir", Options{}},
		{"bad trust domain", Options{TrustDomain: "Bad_Domain"}},
		{"bad log origin", Options{LogOrigin: "has space"}},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "out")
			if tc.o.Dir == "" && tc.desc != "no dir" {
				tc.o.Dir = dir
			}
			if err := Generate(tc.o); err == nil {
				t.Fatal("Generate succeeded")
			}
			if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("failed Generate created %s", dir)
			}
		})
	}
}
