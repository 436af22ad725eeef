package ledger

import (
	"crypto/x509"
	"fmt"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"

	"github.com/mvm-exchange/mvm/internal/agreement"
	"github.com/mvm-exchange/mvm/internal/entry"
	"github.com/mvm-exchange/mvm/internal/identity"
	"github.com/mvm-exchange/mvm/internal/workflow"
)

// ReplayUntil rebuilds a package's state from its stored entries with the
// reducer, restricted to the entries below index size (all if size is 0)
// received at or before asOf (all if asOf is zero): the package as it stood
// then. It trusts the store's signatures (they were verified on append; the
// auditor re-verifies them); it returns nil, nil for an unknown package. Readers pass the published head's size so they
// never show a batch whose commit is still being made durable.
func (l *Ledger) ReplayUntil(id string, history []*agreement.Agreement, asOf time.Time, size uint64) (*workflow.Package, error) {
	idxs, err := l.st.PackageIndexes(id)
	if err != nil || len(idxs) == 0 {
		return nil, err
	}
	var pkg *workflow.Package
	for _, i := range idxs {
		if size > 0 && i >= size {
			break
		}
		in, err := l.input(i)
		if err != nil {
			return nil, err
		}
		if !asOf.IsZero() && in.ReceivedAt.After(asOf) {
			break
		}
		if pkg, err = workflow.Apply(agreementAt(history, i), pkg, in); err != nil {
			return nil, fmt.Errorf("%w: package %s entry %d: %v", errCorrupt, id, i, err)
		}
	}
	return pkg, nil
}

// input decodes the stored entry at index i for the reducer.
func (l *Ledger) input(i uint64) (workflow.Input, error) {
	leaf, err := l.st.Leaf(i)
	if err != nil {
		return workflow.Input{}, err
	}
	return leafInput(i, leaf, l.author)
}

// leafInput decodes leaf, the entry at index i, for the reducer; author
// names the signer of a stored certificate fingerprint. A leaf that does
// not decode is a corrupt store (errCorrupt): it was admitted once.
func leafInput(i uint64, leaf []byte, author func(fp []byte) (identity.Identity, error)) (workflow.Input, error) {
	o, err := entry.Open(leaf)
	if err != nil {
		return workflow.Input{}, fmt.Errorf("%w: entry %d: %v", errCorrupt, i, err)
	}
	id, err := author(o.Entry.PeerCertificateSha256)
	if err != nil {
		return workflow.Input{}, fmt.Errorf("%w: entry %d: %v", errCorrupt, i, err)
	}
	return workflow.Input{Index: i, ReceivedAt: o.ReceivedAt(), Author: id, Payload: o.Payload}, nil
}

// authorCacheSize bounds the identities of peer certificates cached.
var authorCacheSize = 4096

func newAuthorCache() *lru.Cache[string, identity.Identity] {
	c, err := lru.New[string, identity.Identity](authorCacheSize)
	if err != nil {
		panic(err) // only for a size ≤ 0
	}
	return c
}

// author returns the identity of a stored peer certificate.
func (l *Ledger) author(sha []byte) (identity.Identity, error) {
	if id, ok := l.authors.Get(string(sha)); ok {
		return id, nil
	}
	der, err := l.st.Certificate(sha)
	if err != nil {
		return identity.Identity{}, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return identity.Identity{}, err
	}
	id, err := identity.Parse(cert)
	if err != nil {
		return identity.Identity{}, err
	}
	l.authors.Add(string(sha), id)
	return id, nil
}
