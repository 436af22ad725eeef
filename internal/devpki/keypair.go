package devpki

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"math/big"
	"net/url"
	"time"

	"github.com/mvm-exchange/mvm/internal/identity"
)

// keyPair is a generated certificate with its key.
type keyPair struct {
	cert *x509.Certificate
	key  ed25519.PrivateKey
}

func (k keyPair) files(name string) ([]file, error) {
	keyPEM, err := encodeKey(k.key)
	if err != nil {
		return nil, fmt.Errorf("devpki: %s: %w", name, err)
	}
	return []file{
		{name + ".crt", encodeCert(k.cert), fileMode},
		{name + ".key", keyPEM, keyFileMode},
	}, nil
}

func spiffeURI(trustDomain, party, name string) string {
	return identity.Identity{TrustDomain: trustDomain, Party: party, Name: name}.URI()
}

func serial() (*big.Int, error) {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, err
	}
	return n.Add(n, big.NewInt(1)), nil
}

func newCA(name, cn string, notBefore time.Time) (keyPair, error) {
	pub, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return keyPair{}, fmt.Errorf("devpki: %s key: %w", name, err)
	}
	sn, err := serial()
	if err != nil {
		return keyPair{}, fmt.Errorf("devpki: %s serial: %w", name, err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          sn,
		Subject:               pkix.Name{CommonName: cn, Organization: []string{"MVM dev PKI"}},
		NotBefore:             notBefore,
		NotAfter:              notBefore.AddDate(caValidity, 0, 0),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLen:            0,
		MaxPathLenZero:        true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, pub, key)
	if err != nil {
		return keyPair{}, fmt.Errorf("devpki: %s certificate: %w", name, err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return keyPair{}, fmt.Errorf("devpki: %s certificate: %w", name, err)
	}
	return keyPair{cert, key}, nil
}

// newLeaf issues tmpl (with a fresh key and serial) from ca.
func newLeaf(ca keyPair, tmpl *x509.Certificate) (keyPair, error) {
	pub, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return keyPair{}, err
	}
	if tmpl.SerialNumber, err = serial(); err != nil {
		return keyPair{}, err
	}
	tmpl.KeyUsage = x509.KeyUsageDigitalSignature
	tmpl.BasicConstraintsValid = true
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, pub, ca.key)
	if err != nil {
		return keyPair{}, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return keyPair{}, err
	}
	return keyPair{cert, key}, nil
}

// newClient issues a client identity. uris are the URI SANs (normally the
// single spiffe URI of party/name).
func newClient(ca keyPair, trustDomain, partyID, name string, uris []string, notBefore, notAfter time.Time) (keyPair, error) {
	if !identity.ValidName(name) {
		return keyPair{}, fmt.Errorf("devpki: %q is not a valid identity name (want [a-z0-9][a-z0-9._-]{0,62})", name)
	}
	if !identity.ValidName(partyID) {
		return keyPair{}, fmt.Errorf("devpki: %q is not a valid party id (want [a-z0-9][a-z0-9._-]{0,62})", partyID)
	}
	var us []*url.URL
	for _, s := range uris {
		u, err := url.Parse(s)
		if err != nil {
			return keyPair{}, fmt.Errorf("devpki: %s: URI SAN: %w", name, err)
		}
		us = append(us, u)
	}
	k, err := newLeaf(ca, &x509.Certificate{
		Subject:     pkix.Name{CommonName: name, Organization: []string{"MVM dev PKI"}, OrganizationalUnit: []string{partyID}},
		URIs:        us,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
		NotBefore:   notBefore,
		NotAfter:    notAfter,
	})
	if err != nil {
		return keyPair{}, fmt.Errorf("devpki: %s certificate: %w", name, err)
	}
	// A normal identity must be one identity.Parse reads back as intended;
	// this catches a bad trust domain before anything is written.
	if len(uris) == 1 && uris[0] == spiffeURI(trustDomain, partyID, name) {
		id, err := identity.Parse(k.cert)
		if err != nil {
			return keyPair{}, fmt.Errorf("devpki: %s: %w (is the trust domain %q valid?)", name, err, trustDomain)
		}
		if id.TrustDomain != trustDomain || id.Party != partyID || id.Name != name {
			return keyPair{}, fmt.Errorf("devpki: %s: certificate names %s, want %s", name, id.URI(), spiffeURI(trustDomain, partyID, name))
		}
	}
	return k, nil
}
