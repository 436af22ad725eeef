package verify

import (
	"crypto/x509"
	"errors"
	"fmt"
	"time"

	"github.com/mvm-exchange/mvm/internal/agreement"
	"github.com/mvm-exchange/mvm/internal/identity"
	"github.com/mvm-exchange/mvm/internal/revocation"
	mvmv1 "github.com/mvm-exchange/mvm/proto/mvm/v1"
)

// revocations checks signer certificates against the CRLs of
// Options.CRLs. A CRL counts once it verifies against the CA of a party of
// an agreement of the log (the genesis, or the amendment that brought its
// CA); one that never does fails the audit.
type revocations struct {
	pending []pendingCRL
	crls    []*revocation.CRL
	set     *revocation.Set
	// before lists, in log order, the entries signed by a certificate
	// revoked after the entry was received.
	before []uint64
}

type pendingCRL struct {
	list  *x509.RevocationList
	label string
	err   error // why it did not verify yet
}

func newRevocations(lists []*x509.RevocationList) *revocations {
	r := &revocations{}
	for i, rl := range lists {
		label := fmt.Sprintf("CRL %d (issuer %q", i+1, rl.Issuer.String())
		if rl.Number != nil {
			label += ", number " + rl.Number.String()
		}
		r.pending = append(r.pending, pendingCRL{list: rl, label: label + ")"})
	}
	return r
}

// agreement verifies the CRLs still pending against the CAs of ag, which
// is now in force.
func (r *revocations) agreement(ag *agreement.Agreement) {
	kept := r.pending[:0]
	for _, p := range r.pending {
		c, err := revocation.Verify(ag, p.list, "", p.label)
		if err != nil {
			p.err = err
			kept = append(kept, p)
			continue
		}
		r.crls = append(r.crls, c)
	}
	if len(kept) < len(r.pending) {
		r.set = revocation.NewSet(r.crls...)
	}
	r.pending = kept
}

// check fails entry index, received at, if one of its signer certificates
// was revoked at or before at; it notes the entry if one was revoked later.
func (r *revocations) check(index uint64, at time.Time, signers []signerCert) error {
	if r.set == nil {
		return nil
	}
	later := false
	for _, s := range signers {
		rev, ok := r.set.Lookup(s.cert)
		if !ok {
			continue
		}
		if !at.Before(rev.At) {
			return &EntryError{index, fmt.Errorf("%w, and the entry was received at %s, after that", rev.Error(s.cert, s.who),
				at.UTC().Format(time.RFC3339Nano))}
		}
		later = true
	}
	if later {
		r.before = append(r.before, index)
	}
	return nil
}

// finish fails if a CRL never verified against a party's CA.
func (r *revocations) finish() error {
	if len(r.pending) == 0 {
		return nil
	}
	var errs []error
	for _, p := range r.pending {
		errs = append(errs, p.err)
	}
	return errors.Join(errs...)
}

// signerCert is one certificate that signed an entry, with who holds it.
type signerCert struct {
	cert *x509.Certificate
	who  string
}

// agreementSigners are the certificates embedded in an agreement entry's
// signatures, and the submitting peer's.
func agreementSigners(d *decoded, env *mvmv1.Envelope) []signerCert {
	var out []signerCert
	add := func(c *x509.Certificate) {
		who := c.Subject.CommonName
		if id, err := identity.Parse(c); err == nil {
			who = id.String()
		}
		out = append(out, signerCert{c, who})
	}
	if d.peer != nil {
		add(d.peer.Cert)
	}
	for _, s := range env.Signatures {
		if c, err := x509.ParseCertificate(s.Certificate); err == nil {
			add(c)
		}
	}
	return out
}
