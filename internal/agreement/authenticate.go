package agreement

// Authentication of a party's certificate chain under an agreement, and
// the cache of the chains it has verified.

import (
	"crypto/sha256"
	"crypto/x509"
	"errors"
	"fmt"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"

	"github.com/mvm-exchange/mvm/internal/identity"
)

// chainCacheSize bounds the chain verifications an agreement caches
// (~300 bytes each): far more identities than a deployment has, far less
// memory than matters.
var chainCacheSize = 4096

func newChainCache() *lru.Cache[[32]byte, verifiedChain] {
	c, err := lru.New[[32]byte, verifiedChain](chainCacheSize)
	if err != nil {
		panic(err) // only for a size ≤ 0
	}
	return c
}

// verifiedChain is a cached successful Authenticate: valid for any time in
// [notBefore, notAfter], the intersection of the chain's validity periods.
type verifiedChain struct {
	id                  identity.Identity
	party               *Party
	notBefore, notAfter time.Time
}

// Authenticate checks that leaf (with optional intermediates) names a party
// of this agreement in its trust domain and chains to that party's CA at
// time at, for client authentication.
func (a *Agreement) Authenticate(leaf *x509.Certificate, intermediates []*x509.Certificate, at time.Time) (identity.Identity, *Party, error) {
	key := sha256.Sum256(leaf.Raw)
	if len(intermediates) == 0 {
		if vc, ok := a.verified.Get(key); ok {
			if !at.Before(vc.notBefore) && !at.After(vc.notAfter) {
				return vc.id, vc.party, nil
			}
		}
	}
	id, err := identity.Parse(leaf)
	if err != nil {
		return identity.Identity{}, nil, fmt.Errorf("%w: %w", ErrUntrusted, err)
	}
	if id.TrustDomain != a.TrustDomain {
		return id, nil, fmt.Errorf("%w: trust domain %q, agreement uses %q", ErrUntrusted, id.TrustDomain, a.TrustDomain)
	}
	party, ok := a.parties[id.Party]
	if !ok {
		return id, nil, fmt.Errorf("%w: %q is not a party to the agreement", ErrUntrusted, id.Party)
	}
	inter := x509.NewCertPool()
	for _, c := range intermediates {
		inter.AddCert(c)
	}
	chains, err := leaf.Verify(x509.VerifyOptions{
		Roots:         party.pool,
		Intermediates: inter,
		CurrentTime:   at,
		KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	})
	if err != nil {
		return id, nil, chainError(id, leaf, at, err)
	}
	if len(intermediates) == 0 && len(chains) == 1 {
		vc := verifiedChain{id: id, party: party, notBefore: leaf.NotBefore, notAfter: leaf.NotAfter}
		for _, c := range chains[0] {
			if c.NotBefore.After(vc.notBefore) {
				vc.notBefore = c.NotBefore
			}
			if c.NotAfter.Before(vc.notAfter) {
				vc.notAfter = c.NotAfter
			}
		}
		a.verified.Add(key, vc)
	}
	return id, party, nil
}

// chainError explains a failed chain verification; an expired or not yet
// valid certificate says so, with the dates, rather than "does not chain".
func chainError(id identity.Identity, leaf *x509.Certificate, at time.Time, err error) error {
	const layout = time.RFC3339
	if ce, ok := errors.AsType[x509.CertificateInvalidError](err); ok && ce.Reason == x509.Expired {
		switch {
		case at.Before(leaf.NotBefore):
			return fmt.Errorf("%w: the certificate of %s is not yet valid: valid from %s, checked at %s", ErrUntrusted, id,
				leaf.NotBefore.UTC().Format(layout), at.UTC().Format(layout))
		case at.After(leaf.NotAfter):
			return fmt.Errorf("%w: the certificate of %s has expired: valid until %s, checked at %s", ErrUntrusted, id,
				leaf.NotAfter.UTC().Format(layout), at.UTC().Format(layout))
		}
		return fmt.Errorf("%w: the certificate chain of %s is expired or not yet valid at %s: %w", ErrUntrusted, id, at.UTC().Format(layout), err)
	}
	return fmt.Errorf("%w: %s does not chain to party %s's CA: %w", ErrUntrusted, id, id.Party, err)
}
