// Package identity turns an X.509 client certificate into the party and
// person it names.
//
// A client certificate names its holder in exactly one URI SAN,
// spiffe://<trust-domain>/party/<party>/<name>. [Parse] enforces that shape;
// it does not decide whether the certificate is trusted; that is the
// agreement's job, because only the agreement says which CA speaks for which
// party.
package identity

import (
	"crypto/x509"
	"errors"
	"fmt"
	"regexp"
	"strings"
)

// ErrBadIdentity means the certificate does not carry a well-formed identity.
var ErrBadIdentity = errors.New("certificate identity")

// Identity is who a certificate says its holder is.
type Identity struct {
	TrustDomain string
	Party       string
	Name        string
}

// URI returns spiffe://<trust-domain>/party/<party>/<name>.
func (id Identity) URI() string {
	return "spiffe://" + id.TrustDomain + "/party/" + id.Party + "/" + id.Name
}

// String is the short form used in messages: "<party>/<name>".
func (id Identity) String() string { return id.Party + "/" + id.Name }

var (
	segment     = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,62}$`)
	trustDomain = regexp.MustCompile(`^[a-z0-9][a-z0-9.-]{0,250}$`)
)

// ValidName reports whether s may be used as a party id or person name.
func ValidName(s string) bool { return segment.MatchString(s) }

// Parse extracts the identity from a certificate's single SPIFFE URI SAN.
func Parse(cert *x509.Certificate) (Identity, error) {
	if cert == nil {
		return Identity{}, fmt.Errorf("%w: no certificate", ErrBadIdentity)
	}
	if n := len(cert.URIs); n != 1 {
		return Identity{}, fmt.Errorf("%w: want exactly one URI SAN, certificate has %d", ErrBadIdentity, n)
	}
	u := cert.URIs[0]
	if u.Scheme != "spiffe" || u.User != nil || u.RawQuery != "" || u.Fragment != "" || u.Port() != "" ||
		u.Opaque != "" || u.EscapedPath() != u.Path {
		return Identity{}, fmt.Errorf("%w: URI SAN %q is not a plain spiffe:// URI", ErrBadIdentity, u)
	}
	if !trustDomain.MatchString(u.Host) {
		return Identity{}, fmt.Errorf("%w: bad trust domain %q", ErrBadIdentity, u.Host)
	}
	parts := strings.Split(strings.TrimPrefix(u.Path, "/"), "/")
	if len(parts) != 3 || parts[0] != "party" || !ValidName(parts[1]) || !ValidName(parts[2]) {
		return Identity{}, fmt.Errorf("%w: URI SAN %q is not spiffe://<trust-domain>/party/<party>/<name>", ErrBadIdentity, u)
	}
	return Identity{TrustDomain: u.Host, Party: parts[1], Name: parts[2]}, nil
}
