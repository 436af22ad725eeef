package revocation_test

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/mvm-exchange/mvm/internal/agreement"
	"github.com/mvm-exchange/mvm/internal/devpki"
	"github.com/mvm-exchange/mvm/internal/envelope"
	"github.com/mvm-exchange/mvm/internal/revocation"
	mvmv1 "github.com/mvm-exchange/mvm/proto/mvm/v1"
)

// pki is a dev PKI with its parsed agreement.
type pki struct {
	dir string
	ag  *agreement.Agreement
}

func newPKI(t *testing.T) *pki {
	t.Helper()
	dir := t.TempDir()
	if err := devpki.Generate(devpki.Options{Dir: dir}); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, "agreement.envelope"))
	if err != nil {
		t.Fatal(err)
	}
	env, err := envelope.Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	p := &mvmv1.Agreement{}
	if err := proto.Unmarshal(env.Payload, p); err != nil {
		t.Fatal(err)
	}
	ag, err := agreement.Parse(p, 0)
	if err != nil {
		t.Fatal(err)
	}
	return &pki{dir: dir, ag: ag}
}

func (p *pki) cert(t *testing.T, name string) *x509.Certificate {
	t.Helper()
	kp, err := devpki.LoadKeyPair(p.dir, name)
	if err != nil {
		t.Fatal(err)
	}
	return kp.Leaf
}

// crl signs a CRL revoking serials at "at" with the key of DIR/keyOf,
// naming DIR/issuer as its issuer (normally the same CA).
func (p *pki) crl(t *testing.T, issuer, keyOf string, number int64, at time.Time, serials ...*big.Int) []byte {
	t.Helper()
	ca, err := devpki.LoadKeyPair(p.dir, issuer)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := devpki.LoadKeyPair(p.dir, keyOf)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.RevocationList{Number: big.NewInt(number), ThisUpdate: time.Now().Add(-time.Minute), NextUpdate: time.Now().Add(time.Hour)}
	for _, s := range serials {
		tmpl.RevokedCertificateEntries = append(tmpl.RevokedCertificateEntries, x509.RevocationListEntry{SerialNumber: s, RevocationTime: at})
	}
	der, err := x509.CreateRevocationList(rand.Reader, tmpl, ca.Leaf, signer.PrivateKey.(ed25519.PrivateKey))
	if err != nil {
		t.Fatal(err)
	}
	return der
}

func write(t *testing.T, path string, b []byte) string {
	t.Helper()
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func pemCRL(der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: revocation.PEMType, Bytes: der})
}

func TestLoadAndRevoked(t *testing.T) {
	p := newPKI(t)
	for _, name := range []string{"pk-second", "pk-third"} {
		if err := devpki.Issue(p.dir, name, "pk", devpki.IssueOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	at := time.Date(2026, 6, 1, 8, 0, 0, 0, time.UTC)
	if err := devpki.Revoke(p.dir, "pk-second", at); err != nil {
		t.Fatal(err)
	}
	pemPath := filepath.Join(p.dir, "crl-pk.pem")
	c, err := revocation.LoadFile(p.ag, pemPath)
	if err != nil {
		t.Fatalf("LoadFile(crl-pk.pem): %v", err)
	}
	if c.Party != "pk" || c.Number().Int64() != 1 {
		t.Errorf("CRL: party %q number %v, want pk 1", c.Party, c.Number())
	}
	// The same CRL in DER under another name loads too.
	rl, err := revocation.ReadFile(pemPath)
	if err != nil {
		t.Fatal(err)
	}
	der, err := revocation.LoadFile(p.ag, write(t, filepath.Join(t.TempDir(), "pakistan.crl"), rl.Raw))
	if err != nil {
		t.Fatalf("LoadFile(DER): %v", err)
	}

	set := revocation.NewSet(c, der)
	if got, ok := set.Revoked(p.cert(t, "pk-second")); !ok || !got.Equal(at) {
		t.Errorf("Revoked(pk-second): %v %v, want %v true", got, ok, at)
	}
	for _, name := range []string{"pk-third", "pk-liaison", "af-interior"} {
		if _, ok := set.Revoked(p.cert(t, name)); ok {
			t.Errorf("Revoked(%s): true, want false", name)
		}
		if err := set.Check(p.cert(t, name), name); err != nil {
			t.Errorf("Check(%s): %v", name, err)
		}
	}
	err = set.Check(p.cert(t, "pk-second"), "pk/pk-second")
	if !errors.Is(err, revocation.ErrRevoked) || !strings.Contains(err.Error(), "pk/pk-second") ||
		!strings.Contains(err.Error(), "2026-06-01T08:00:00Z") {
		t.Errorf("Check(pk-second): %v", err)
	}
	var none *revocation.Set
	if _, ok := none.Revoked(p.cert(t, "pk-second")); ok || none.Check(p.cert(t, "pk-second"), "x") != nil || none.Entries() != 0 {
		t.Error("the nil set revokes")
	}
	if set.Entries() != 2 || len(set.CRLs()) != 2 {
		t.Errorf("set: %d entries, %d CRLs; want 2, 2", set.Entries(), len(set.CRLs()))
	}
}

// A CRL revokes only certificates of its own CA: the same serial number
// under another party's CA is not revoked. Of two CRLs listing one
// certificate, the earlier revocation counts.
func TestSetScopesByIssuer(t *testing.T) {
	p := newPKI(t)
	af := p.cert(t, "af-interior")
	early, late := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC)
	pkList, err := revocation.Verify(p.ag, mustParse(t, p.crl(t, "ca-pk", "ca-pk", 1, early, af.SerialNumber)), "", "pk")
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := revocation.NewSet(pkList).Revoked(af); ok {
		t.Error("pk's CRL revokes af-interior's serial number")
	}
	a1, err := revocation.Verify(p.ag, mustParse(t, p.crl(t, "ca-af", "ca-af", 1, late, af.SerialNumber)), "af", "af late")
	if err != nil {
		t.Fatal(err)
	}
	a2, err := revocation.Verify(p.ag, mustParse(t, p.crl(t, "ca-af", "ca-af", 2, early, af.SerialNumber)), "af", "af early")
	if err != nil {
		t.Fatal(err)
	}
	if got, ok := revocation.NewSet(pkList, a1, a2).Revoked(af); !ok || !got.Equal(early) {
		t.Errorf("Revoked(af-interior): %v %v, want %v", got, ok, early)
	}
}

func mustParse(t *testing.T, b []byte) *x509.RevocationList {
	t.Helper()
	rl, err := revocation.Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	return rl
}

// Only a CRL signed by the CA it names, a CA of a party of the agreement
// (and, for a file named crl-<party>.pem, of that party), is accepted.
func TestRefusedCRLs(t *testing.T) {
	p := newPKI(t)
	foreign := newPKI(t)
	serial := p.cert(t, "pk-liaison").SerialNumber
	at := time.Now()
	dir := t.TempDir()
	for _, tc := range []struct {
		name, file string
		data       []byte
		want       string
	}{
		{"names pk's CA, signed by af's key", "crl-pk.pem", pemCRL(p.crl(t, "ca-pk", "ca-af", 1, at, serial)), "not signed by party pk's CA"},
		{"af's CRL in pk's file", "crl-pk.pem", pemCRL(p.crl(t, "ca-af", "ca-af", 1, at, serial)), "claims party pk but is issued by party af's CA"},
		{"the server CA's", "server.pem", pemCRL(p.crl(t, "ca-server", "ca-server", 1, at, serial)), "not the CA of any party"},
		{"another PKI's pk CA (same name, other key)", "crl-pk.pem", pemCRL(foreign.crl(t, "ca-pk", "ca-pk", 1, at, serial)), "not by that party's CA"},
		{"garbage", "crl-pk.pem", []byte("not a CRL"), "invalid CRL"},
		{"a certificate", "crl-pk.pem", mustReadFile(t, filepath.Join(p.dir, "ca-pk.crt")), `PEM block "CERTIFICATE"`},
		{"truncated PEM", "crl-pk.pem", []byte("-----BEGIN X509 CRL-----\nAAAA\n"), "malformed PEM"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := write(t, filepath.Join(dir, tc.file), tc.data)
			_, err := revocation.LoadFile(p.ag, path)
			if !errors.Is(err, revocation.ErrInvalid) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("LoadFile: got %v, want ErrInvalid mentioning %q", err, tc.want)
			}
		})
	}
	if _, err := revocation.LoadFile(p.ag, filepath.Join(dir, "missing.pem")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: got %v, want ErrNotExist", err)
	}
}

func mustReadFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestPartyOfFile(t *testing.T) {
	for in, want := range map[string]string{
		"certs/crl-pk.pem": "pk", "crl-af.der": "af", "/x/crl-tr.crl": "tr",
		"crl-pk.txt": "", "pk.pem": "", "certs/ca-pk.crt": "",
	} {
		if got := revocation.PartyOfFile(in); got != want {
			t.Errorf("PartyOfFile(%q) = %q, want %q", in, got, want)
		}
	}
}
