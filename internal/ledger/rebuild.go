package ledger

import (
	"crypto/x509"
	"errors"

	"github.com/mvm-exchange/mvm/internal/identity"
	"github.com/mvm-exchange/mvm/internal/store"
)

// RebuildIndexes recomputes the store's indexes (message ids, packages,
// agreements) from the entries alone, each with [IndexRecords]. Run it on
// a closed ledger's store, e.g. after restoring a database whose indexes
// are damaged.
func RebuildIndexes(st *store.Store) error {
	return st.RebuildIndexes(func(i uint64, leaf []byte, cert func([]byte) []byte) (store.IndexRecords, error) {
		return IndexRecords(i, leaf, func(sha []byte) (identity.Identity, error) {
			der := cert(sha)
			if der == nil {
				return identity.Identity{}, errors.New("signer certificate not stored")
			}
			c, err := x509.ParseCertificate(der)
			if err != nil {
				return identity.Identity{}, err
			}
			return identity.Parse(c)
		})
	})
}
