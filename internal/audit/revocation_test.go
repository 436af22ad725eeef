package audit_test

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"errors"
	"math/big"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mvm-exchange/mvm/internal/audit"
	"github.com/mvm-exchange/mvm/internal/devpki"
	"github.com/mvm-exchange/mvm/internal/entry"
	"github.com/mvm-exchange/mvm/internal/revocation"
)

// copyFiles copies names from dir into a new directory.
func copyFiles(t *testing.T, dir string, names ...string) string {
	t.Helper()
	out := t.TempDir()
	for _, n := range names {
		b, err := os.ReadFile(filepath.Join(dir, n))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(out, n), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// Audit-time validity: entries signed before their signer's revocation
// stay valid and are listed; an entry received at or after it fails the
// audit, named. The server never loads the CRL here (it is written to a
// directory of its own), which is how a revoked certificate's entry gets
// into the log: a server that missed the revocation.
func TestAuditRevocation(t *testing.T) {
	x := newExchange(t)
	if err := devpki.Issue(x.env.Certs, "pk-second", "pk", devpki.IssueOptions{}); err != nil {
		t.Fatal(err)
	}
	c := x.env.Client("pk-second")
	one := target("one")
	i1 := x.add(t, c, one)
	resp, err := c.Append(ctxT(t), target("two"))
	if err != nil {
		t.Fatal(err)
	}
	i2 := resp.Receipt.Index
	x.add(t, x.af, ackMsg(one.Header.MessageId))
	// CRLs record whole seconds: revoke at the first second after entry
	// i2 was received, and log one more entry by pk-second after it.
	revokedAt := resp.Receipt.ReceivedAt.AsTime().Truncate(time.Second).Add(time.Second)
	time.Sleep(time.Until(revokedAt) + 10*time.Millisecond)
	after := x.add(t, c, target("after the revocation"))

	dir := copyFiles(t, x.env.Certs, "ca-pk.crt", "ca-pk.key", "pk-second.crt", "ca-tr.crt", "ca-tr.key", "tr-verifier.crt")
	for _, name := range []string{"pk-second", "tr-verifier"} {
		if err := devpki.Revoke(dir, name, revokedAt); err != nil {
			t.Fatal(err)
		}
	}
	var crls []*x509.RevocationList
	for _, p := range []string{"pk", "tr"} {
		rl, err := revocation.ReadFile(filepath.Join(dir, "crl-"+p+".pem"))
		if err != nil {
			t.Fatal(err)
		}
		crls = append(crls, rl)
	}

	// The log up to the forged entry passes; the genesis (signed by
	// tr-verifier among others) and pk-second's two entries are listed.
	rep, err := run(t, x.tr, after, audit.Options{CRLs: crls})
	if err != nil {
		t.Fatalf("audit up to entry %d: %v", after, err)
	}
	if want := []uint64{0, i1, i2}; !slices.Equal(rep.SignedBeforeRevocation, want) {
		t.Errorf("SignedBeforeRevocation = %v, want %v", rep.SignedBeforeRevocation, want)
	}

	// The whole log fails at the entry received after the revocation.
	_, err = run(t, x.tr, after+1, audit.Options{CRLs: crls})
	wantEntryError(t, err, after, "revoked")
	if !errors.Is(err, revocation.ErrRevoked) || !strings.Contains(err.Error(), "pk/pk-second") {
		t.Errorf("audit error %v: want ErrRevoked naming pk/pk-second", err)
	}

	// Without CRLs the same log passes and lists nothing.
	rep, err = run(t, x.tr, after+1, audit.Options{})
	if err != nil {
		t.Fatalf("audit without CRLs: %v", err)
	}
	if len(rep.SignedBeforeRevocation) != 0 {
		t.Errorf("audit without CRLs lists %v", rep.SignedBeforeRevocation)
	}

	// A CRL that names pk's CA but is signed with af's key fails the
	// audit whatever it lists.
	forged := forgedCRL(t, x.env.Certs)
	_, err = run(t, x.tr, after+1, audit.Options{CRLs: []*x509.RevocationList{forged}})
	if !errors.Is(err, revocation.ErrInvalid) || !strings.Contains(err.Error(), "not signed by party pk's CA") {
		t.Fatalf("audit with a forged CRL: got %v, want ErrInvalid (not signed by party pk's CA)", err)
	}
}

func forgedCRL(t *testing.T, dir string) *x509.RevocationList {
	t.Helper()
	pk, err := devpki.LoadKeyPair(dir, "ca-pk")
	if err != nil {
		t.Fatal(err)
	}
	af, err := devpki.LoadKeyPair(dir, "ca-af")
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.CreateRevocationList(rand.Reader, &x509.RevocationList{Number: big.NewInt(1),
		ThisUpdate: time.Now(), NextUpdate: time.Now().Add(time.Hour)}, pk.Leaf, af.PrivateKey.(ed25519.PrivateKey))
	if err != nil {
		t.Fatal(err)
	}
	rl, err := x509.ParseRevocationList(der)
	if err != nil {
		t.Fatal(err)
	}
	return rl
}

// Expiry is judged at each entry's receive time: an entry whose receive
// time falls after its signer's certificate expired fails the audit.
func TestAuditSignerExpiredAtReceiveTime(t *testing.T) {
	x := newExchange(t)
	notAfter := time.Now().Add(time.Hour).Truncate(time.Second)
	if err := devpki.Issue(x.env.Certs, "pk-brief", "pk", devpki.IssueOptions{NotBefore: time.Now().Add(-time.Hour), NotAfter: notAfter}); err != nil {
		t.Fatal(err)
	}
	i := x.add(t, x.env.Client("pk-brief"), target("brief"))
	if _, err := x.audit(t, audit.Options{}); err != nil {
		t.Fatalf("audit: %v", err)
	}
	x.restart(t, func() {
		editEntry(t, x.env.DB, i, func(leaf []byte) []byte {
			e, err := entry.DecodeLeaf(leaf)
			if err != nil {
				t.Fatal(err)
			}
			out, err := entry.NewLeaf(e.Index, notAfter.Add(time.Minute), e.Envelope, e.PeerCertificateSha256)
			if err != nil {
				t.Fatal(err)
			}
			return out
		})
	})
	_, err := x.audit(t, audit.Options{})
	wantEntryError(t, err, i, "has expired")
}
