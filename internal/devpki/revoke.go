package devpki

import (
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/mvm-exchange/mvm/internal/revocation"
)

// crlValidity is the NextUpdate of a dev CRL, counted from its ThisUpdate.
// Nothing enforces it (see package revocation); X.509 requires one.
const crlValidity = 365 * 24 * time.Hour

// Revocation is what [Revoke] did.
type Revocation struct {
	Party  string    // the party whose CA issued (and now revokes) the certificate
	Serial *big.Int  // the revoked certificate's serial number
	At     time.Time // the recorded revocation time
	File   string    // DIR/crl-<party>.pem
	Number *big.Int  // the new CRL number
}

// Revoke adds the certificate DIR/<name>.crt to DIR/crl-<party>.pem, the CRL
// of the party CA that issued it (found among DIR/ca-*.crt by signature),
// signed with DIR/ca-<party>.key. An existing CRL keeps its entries and
// gets the next CRL number; a missing one is created with number 1. The
// revocation time is at (zero = now), rounded up to a whole second because
// a CRL records seconds only: an entry the server received before the call
// stays before the revocation. It refuses a certificate already revoked.
func Revoke(dir, name string, at time.Time) error {
	_, err := RevokeCertificate(dir, name, at)
	return err
}

// RevokeCertificate is [Revoke], reporting what it did.
func RevokeCertificate(dir, name string, at time.Time) (*Revocation, error) {
	if at.IsZero() {
		at = time.Now()
	}
	if t := at.Truncate(time.Second); !t.Equal(at) {
		at = t.Add(time.Second)
	}
	at = at.UTC()
	cert, err := readCert(filepath.Join(dir, name+".crt"))
	if err != nil {
		return nil, err
	}
	party, err := issuingParty(dir, cert)
	if err != nil {
		return nil, fmt.Errorf("devpki: revoke %s: %w", name, err)
	}
	ca, err := loadCA(dir, "ca-"+party)
	if err != nil {
		return nil, err
	}
	crlName := "crl-" + party + ".pem"
	crlPath := filepath.Join(dir, crlName)
	tmpl := &x509.RevocationList{Number: big.NewInt(1)}
	old, err := revocation.ReadFile(crlPath)
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return nil, err
	default:
		if err := old.CheckSignatureFrom(ca.cert); err != nil {
			return nil, fmt.Errorf("devpki: %s is not signed by ca-%s: %w", crlName, party, err)
		}
		for _, e := range old.RevokedCertificateEntries {
			if e.SerialNumber.Cmp(cert.SerialNumber) == 0 {
				return nil, fmt.Errorf("devpki: %s (serial %s) is already revoked in %s since %s", name,
					cert.SerialNumber.Text(16), crlName, e.RevocationTime.UTC().Format(time.RFC3339))
			}
		}
		tmpl.RevokedCertificateEntries = old.RevokedCertificateEntries
		if old.Number != nil {
			tmpl.Number = new(big.Int).Add(old.Number, big.NewInt(1))
		}
	}
	tmpl.RevokedCertificateEntries = append(tmpl.RevokedCertificateEntries, x509.RevocationListEntry{
		SerialNumber:   cert.SerialNumber,
		RevocationTime: at,
	})
	// ThisUpdate is the issuing time: now, or at if that is later (a
	// revocation recorded ahead of time), and never before the old list's.
	tmpl.ThisUpdate = time.Now().UTC().Truncate(time.Second)
	if at.After(tmpl.ThisUpdate) {
		tmpl.ThisUpdate = at
	}
	if old != nil && old.ThisUpdate.After(tmpl.ThisUpdate) {
		tmpl.ThisUpdate = old.ThisUpdate
	}
	tmpl.NextUpdate = tmpl.ThisUpdate.Add(crlValidity)
	der, err := x509.CreateRevocationList(rand.Reader, tmpl, ca.cert, ca.key)
	if err != nil {
		return nil, fmt.Errorf("devpki: signing %s: %w", crlName, err)
	}
	data := pem.EncodeToMemory(&pem.Block{Type: "X509 CRL", Bytes: der})
	if err := writeAll(dir, []file{{crlName, data, fileMode}}); err != nil {
		return nil, err
	}
	return &Revocation{Party: party, Serial: cert.SerialNumber, At: at, File: crlPath, Number: tmpl.Number}, nil
}

// readCert reads one PEM certificate.
func readCert(path string) (*x509.Certificate, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("devpki: %w", err)
	}
	block, _ := pem.Decode(b)
	if block == nil || block.Type != "CERTIFICATE" {
		return nil, fmt.Errorf("devpki: %s: no PEM certificate", path)
	}
	c, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("devpki: %s: %w", path, err)
	}
	return c, nil
}

// issuingParty returns P for the CA DIR/ca-P.crt that signed cert.
func issuingParty(dir string, cert *x509.Certificate) (string, error) {
	cas, err := filepath.Glob(filepath.Join(dir, "ca-*.crt"))
	if err != nil {
		return "", err
	}
	sort.Strings(cas)
	for _, path := range cas {
		ca, err := readCert(path)
		if err != nil {
			continue
		}
		if cert.CheckSignatureFrom(ca) == nil {
			return strings.TrimSuffix(strings.TrimPrefix(filepath.Base(path), "ca-"), ".crt"), nil
		}
	}
	return "", fmt.Errorf("no CA of %s issued it", dir)
}
