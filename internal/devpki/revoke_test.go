package devpki

import (
	"crypto/x509"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// readTestCRL reads DIR/crl-<party>.pem, which must be one PEM X509 CRL
// signed by DIR/ca-<party>.
func readTestCRL(t *testing.T, dir, party string) *x509.RevocationList {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "crl-"+party+".pem"))
	if err != nil {
		t.Fatal(err)
	}
	blk, _ := pem.Decode(b)
	if blk == nil || blk.Type != "X509 CRL" {
		t.Fatalf("crl-%s.pem is not a PEM X509 CRL", party)
	}
	rl, err := x509.ParseRevocationList(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	if err := rl.CheckSignatureFrom(loadCert(t, dir, "ca-"+party)); err != nil {
		t.Fatalf("crl-%s.pem is not signed by ca-%s: %v", party, party, err)
	}
	return rl
}

func TestRevoke(t *testing.T) {
	dir := generate(t)
	for _, name := range []string{"pk-second", "pk-third"} {
		if err := Issue(dir, name, "pk", IssueOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	at := time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC)
	if err := Revoke(dir, "pk-second", at); err != nil {
		t.Fatalf("Revoke: %v", err)
	}
	rl := readTestCRL(t, dir, "pk")
	if rl.Number.Cmp(big.NewInt(1)) != 0 || len(rl.RevokedCertificateEntries) != 1 {
		t.Fatalf("first CRL: number %v, %d entries; want 1, 1", rl.Number, len(rl.RevokedCertificateEntries))
	}
	e := rl.RevokedCertificateEntries[0]
	if e.SerialNumber.Cmp(loadCert(t, dir, "pk-second").SerialNumber) != 0 || !e.RevocationTime.Equal(at) {
		t.Errorf("entry: serial %x at %v, want pk-second's at %v", e.SerialNumber, e.RevocationTime, at)
	}

	// A second revocation keeps the first, increments the number, and
	// rounds a time within a second up to the next whole second.
	r, err := RevokeCertificate(dir, "pk-third", at.Add(1500*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	if want := at.Add(2 * time.Second); !r.At.Equal(want) || r.Party != "pk" || r.Number.Int64() != 2 {
		t.Errorf("second revocation: %+v, want party pk, number 2, at %v", r, want)
	}
	rl = readTestCRL(t, dir, "pk")
	if rl.Number.Int64() != 2 || len(rl.RevokedCertificateEntries) != 2 {
		t.Fatalf("second CRL: number %v, %d entries; want 2, 2", rl.Number, len(rl.RevokedCertificateEntries))
	}
	if rl.ThisUpdate.Before(rl.RevokedCertificateEntries[1].RevocationTime) || !rl.NextUpdate.After(rl.ThisUpdate) {
		t.Errorf("second CRL: thisUpdate %v, nextUpdate %v", rl.ThisUpdate, rl.NextUpdate)
	}
	if _, err := os.Stat(filepath.Join(dir, "crl-af.pem")); !os.IsNotExist(err) {
		t.Errorf("crl-af.pem: %v, want no such file", err)
	}

	// Revoking again is refused and changes nothing.
	before := snapshot(t, dir)
	if err := Revoke(dir, "pk-second", time.Time{}); err == nil || !strings.Contains(err.Error(), "already revoked") {
		t.Errorf("revoking twice: got %v, want already revoked", err)
	}
	if err := Revoke(dir, "nobody", time.Time{}); err == nil {
		t.Error("revoking a missing identity: got nil error")
	}
	assertSnapshot(t, dir, before)
}

// A certificate goes to the CRL of the CA that issued it, whatever party
// it names; the default time is now.
func TestRevokeCrossParty(t *testing.T) {
	dir := generate(t)
	if err := Issue(dir, "evil", "af", IssueOptions{CAParty: "pk"}); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	r, err := RevokeCertificate(dir, "evil", time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if r.Party != "pk" || r.At.Before(start.Truncate(time.Second)) || r.At.After(time.Now().Add(time.Second)) {
		t.Errorf("revocation %+v, want party pk, at about now", r)
	}
	readTestCRL(t, dir, "pk")

	// A CRL that is not signed by the party's CA is not extended.
	if err := os.WriteFile(filepath.Join(dir, "crl-af.pem"), mustReadFile(t, filepath.Join(dir, "crl-pk.pem")), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := Revoke(dir, "af-interior", time.Time{}); err == nil || !strings.Contains(err.Error(), "not signed by ca-af") {
		t.Errorf("extending a foreign crl-af.pem: got %v, want not signed by ca-af", err)
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

func assertSnapshot(t *testing.T, dir string, want map[string][]byte) {
	t.Helper()
	got := snapshot(t, dir)
	if len(got) != len(want) {
		t.Fatalf("directory has %d files, want %d", len(got), len(want))
	}
	for name, b := range want {
		if string(got[name]) != string(b) {
			t.Errorf("%s changed", name)
		}
	}
}
