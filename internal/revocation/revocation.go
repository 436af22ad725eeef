// Package revocation decides whether a client certificate has been revoked,
// from the X.509 certificate revocation lists (CRLs) of the parties' CAs.
//
// A CRL counts only once [Verify] has checked it against the CA certificate
// of the party it claims (its issuer name, and its authority key id when it
// has one), as listed in the agreement: a party's CA can revoke only that
// party's certificates, and a CRL signed by any other key is refused. A
// [Set] of verified CRLs answers [Set.Revoked] for a certificate: the
// earliest revocation time any of them records for its issuer and serial
// number.
//
// The server refuses a listed certificate whatever its revocation time; the
// auditor compares the revocation time with each entry's receive time, so an
// entry logged before its signer was revoked stays valid.
//
// The package is pure except for [ReadFile] and [LoadFile]: no gRPC, no
// storage. It does not look at a CRL's NextUpdate: a stale list still names
// the certificates it revoked, and refusing to load it would revoke nothing.
package revocation

import (
	"bytes"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/mvm-exchange/mvm/internal/agreement"
)

// Errors a caller may branch on.
var (
	// ErrInvalid means a CRL does not parse or is not signed by the CA of a
	// party of the agreement.
	ErrInvalid = errors.New("invalid CRL")
	// ErrRevoked means a certificate is listed by a verified CRL.
	ErrRevoked = errors.New("certificate revoked")
)

// PEMType is the PEM block type of a CRL.
const PEMType = "X509 CRL"

// Parse reads one CRL, DER or PEM (a single "X509 CRL" block).
func Parse(data []byte) (*x509.RevocationList, error) {
	der := data
	if block, rest := pem.Decode(data); block != nil {
		if block.Type != PEMType {
			return nil, fmt.Errorf("%w: PEM block %q, want %q", ErrInvalid, block.Type, PEMType)
		}
		if len(bytes.TrimSpace(rest)) > 0 {
			return nil, fmt.Errorf("%w: data after the PEM block", ErrInvalid)
		}
		der = block.Bytes
	} else if bytes.HasPrefix(bytes.TrimSpace(data), []byte("-----BEGIN")) {
		return nil, fmt.Errorf("%w: malformed PEM", ErrInvalid)
	}
	rl, err := x509.ParseRevocationList(der)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	return rl, nil
}

// ReadFile reads and parses the CRL in path.
func ReadFile(path string) (*x509.RevocationList, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	rl, err := Parse(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return rl, nil
}

// FileName is the conventional name of a party's CRL file, crl-<party>.pem.
func FileName(party string) string { return "crl-" + party + ".pem" }

// PartyOfFile returns P for a file named crl-P.pem, crl-P.der or crl-P.crl,
// and "" for any other name.
func PartyOfFile(path string) string {
	base := filepath.Base(path)
	ext := filepath.Ext(base)
	switch ext {
	case ".pem", ".der", ".crl":
	default:
		return ""
	}
	p, ok := strings.CutPrefix(strings.TrimSuffix(base, ext), "crl-")
	if !ok {
		return ""
	}
	return p
}

// CRL is a revocation list verified against the CA certificate of a party.
type CRL struct {
	Party  string
	CA     *x509.Certificate
	List   *x509.RevocationList
	Source string // where it was read from, for messages
}

// Number is the CRL number (0 if the list has none).
func (c *CRL) Number() *big.Int {
	if c.List.Number == nil {
		return new(big.Int)
	}
	return c.List.Number
}

// Verify checks that rl is signed by the CA certificate it names as its
// issuer, and that this CA is one of a party's in ag. If party is not "",
// that CA must be party's. source names the CRL in messages.
func Verify(ag *agreement.Agreement, rl *x509.RevocationList, party, source string) (*CRL, error) {
	if source == "" {
		source = "CRL"
	}
	issuer := rl.Issuer.String()
	var sigErr error
	for _, p := range ag.Parties() {
		for _, ca := range p.CAs {
			if !issuedBy(rl.RawIssuer, rl.AuthorityKeyId, ca) {
				continue
			}
			if party != "" && p.ID != party {
				return nil, fmt.Errorf("%w: %s claims party %s but is issued by party %s's CA (%s)", ErrInvalid, source, party, p.ID, issuer)
			}
			if err := rl.CheckSignatureFrom(ca); err != nil {
				sigErr = fmt.Errorf("%w: %s is not signed by party %s's CA (%s): %w", ErrInvalid, source, p.ID, issuer, err)
				continue
			}
			return &CRL{Party: p.ID, CA: ca, List: rl, Source: source}, nil
		}
	}
	if sigErr != nil {
		return nil, sigErr
	}
	if party != "" {
		return nil, fmt.Errorf("%w: %s claims party %s but is issued by %q, not by that party's CA", ErrInvalid, source, party, issuer)
	}
	return nil, fmt.Errorf("%w: %s is issued by %q, which is not the CA of any party of the agreement", ErrInvalid, source, issuer)
}

// issuedBy reports whether a CRL or certificate with this issuer name and
// authority key id names ca as its issuer.
func issuedBy(rawIssuer, authorityKeyID []byte, ca *x509.Certificate) bool {
	if !bytes.Equal(rawIssuer, ca.RawSubject) {
		return false
	}
	return len(authorityKeyID) == 0 || len(ca.SubjectKeyId) == 0 || bytes.Equal(authorityKeyID, ca.SubjectKeyId)
}

// LoadFile reads the CRL in path and verifies it under ag. A file named
// crl-<party>.pem (.der, .crl) must hold that party's CRL.
func LoadFile(ag *agreement.Agreement, path string) (*CRL, error) {
	rl, err := ReadFile(path)
	if err != nil {
		return nil, err
	}
	return Verify(ag, rl, PartyOfFile(path), path)
}

// Revocation is one certificate's entry in a CRL.
type Revocation struct {
	At  time.Time
	CRL *CRL
}

// Set is an immutable set of verified CRLs. The nil *Set revokes nothing.
type Set struct {
	crls []*CRL
	// byIssuer: issuer raw subject → serial (hex) → revocations, earliest first.
	byIssuer map[string]map[string][]Revocation
	entries  int
}

// NewSet indexes verified CRLs. A certificate listed by more than one of
// them counts as revoked from the earliest time.
func NewSet(crls ...*CRL) *Set {
	s := &Set{crls: crls, byIssuer: map[string]map[string][]Revocation{}}
	for _, c := range crls {
		serials := s.byIssuer[string(c.CA.RawSubject)]
		if serials == nil {
			serials = map[string][]Revocation{}
			s.byIssuer[string(c.CA.RawSubject)] = serials
		}
		for _, e := range c.List.RevokedCertificateEntries {
			if e.SerialNumber == nil {
				continue
			}
			k := e.SerialNumber.Text(16)
			serials[k] = append(serials[k], Revocation{At: e.RevocationTime, CRL: c})
			s.entries++
		}
	}
	for _, serials := range s.byIssuer {
		for _, rs := range serials {
			sort.SliceStable(rs, func(i, j int) bool { return rs[i].At.Before(rs[j].At) })
		}
	}
	return s
}

// CRLs returns the lists of the set.
func (s *Set) CRLs() []*CRL {
	if s == nil {
		return nil
	}
	return s.crls
}

// Entries is the number of revocation entries across the set's lists.
func (s *Set) Entries() int {
	if s == nil {
		return 0
	}
	return s.entries
}

// Lookup returns the earliest revocation of cert: the CRL of cert's issuing
// CA that lists its serial number.
func (s *Set) Lookup(cert *x509.Certificate) (Revocation, bool) {
	if s == nil || cert == nil || cert.SerialNumber == nil {
		return Revocation{}, false
	}
	serials := s.byIssuer[string(cert.RawIssuer)]
	if serials == nil {
		return Revocation{}, false
	}
	for _, r := range serials[cert.SerialNumber.Text(16)] {
		if issuedBy(cert.RawIssuer, cert.AuthorityKeyId, r.CRL.CA) {
			return r, true
		}
	}
	return Revocation{}, false
}

// Revoked returns when cert was revoked, if a CRL of the set lists it.
func (s *Set) Revoked(cert *x509.Certificate) (time.Time, bool) {
	r, ok := s.Lookup(cert)
	return r.At, ok
}

// Check returns an error wrapping [ErrRevoked] if cert is listed. who names
// the certificate's holder in the message.
func (s *Set) Check(cert *x509.Certificate, who string) error {
	r, ok := s.Lookup(cert)
	if !ok {
		return nil
	}
	return r.Error(cert, who)
}

// Error describes the revocation of cert (held by who) for people.
func (r Revocation) Error(cert *x509.Certificate, who string) error {
	return fmt.Errorf("%w: the certificate of %s (serial %s) was revoked by party %s's CA at %s", ErrRevoked, who,
		cert.SerialNumber.Text(16), r.CRL.Party, r.At.UTC().Format(time.RFC3339))
}
