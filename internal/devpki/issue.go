package devpki

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/mvm-exchange/mvm/internal/identity"
)

// IssueOptions configure [Issue]. The zero value issues a normal identity
// valid from one hour ago for two years.
type IssueOptions struct {
	// NotBefore and NotAfter bound the validity; zero NotBefore = now-1h,
	// zero NotAfter = NotBefore + 2 years. Set them to make expired or
	// not-yet-valid certificates.
	NotBefore, NotAfter time.Time
	// URIs overrides the URI SANs, for negative tests. nil = the single
	// spiffe://<trust-domain>/party/<party>/<name>; an empty non-nil slice
	// = no URI SAN at all.
	URIs []string
	// CAParty signs with DIR/ca-<CAParty> instead of the party's own CA, for
	// cross-party tests. "" = party.
	CAParty string
	// Force overwrites an existing DIR/<name>.crt/.key.
	Force bool
}

// Issue creates an extra client identity DIR/<name>.crt / <name>.key for
// party, signed by DIR/ca-<party> (or ca-<o.CAParty>). The trust domain is
// the one of the agreement in DIR/agreement.envelope. It refuses to
// overwrite an existing identity unless o.Force.
func Issue(dir, name, party string, o IssueOptions) error {
	caParty := o.CAParty
	if caParty == "" {
		caParty = party
	}
	if !identity.ValidName(caParty) {
		return fmt.Errorf("devpki: %q is not a valid party id", caParty)
	}
	if name == serverName || name == "log" || name == "agreement" || strings.HasPrefix(name, "ca-") || slices.Contains(nodeServerNames(), name) {
		return fmt.Errorf("devpki: %q is reserved for the PKI's own files", name)
	}
	trustDomain, err := readTrustDomain(dir)
	if err != nil {
		return err
	}
	ca, err := loadCA(dir, "ca-"+caParty)
	if err != nil {
		return err
	}
	notBefore := o.NotBefore
	if notBefore.IsZero() {
		notBefore = time.Now().Add(-backdate)
	}
	notAfter := o.NotAfter
	if notAfter.IsZero() {
		notAfter = notBefore.AddDate(leafValidity, 0, 0)
	}
	if !notAfter.After(notBefore) {
		return fmt.Errorf("devpki: %s: NotAfter %s is not after NotBefore %s", name, notAfter.Format(time.RFC3339), notBefore.Format(time.RFC3339))
	}
	uris := o.URIs
	if uris == nil {
		uris = []string{spiffeURI(trustDomain, party, name)}
	}
	k, err := newClient(ca, trustDomain, party, name, uris, notBefore, notAfter)
	if err != nil {
		return err
	}
	files, err := k.files(name)
	if err != nil {
		return err
	}
	if !o.Force {
		if err := refuseExisting(dir, files); err != nil {
			return err
		}
	}
	return writeAll(dir, files)
}
