package ledger

import (
	"bytes"
	"cmp"
	"crypto/x509"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/mvm-exchange/mvm/internal/agreement"
	"github.com/mvm-exchange/mvm/internal/identity"
	"github.com/mvm-exchange/mvm/internal/store"
	"github.com/mvm-exchange/mvm/internal/workflow"
)

// RebuildIndexes recomputes the store's indexes (message ids, packages,
// agreements, then the package-state index) from the entries alone, each
// with [IndexRecords] and [PackageIndexRecords]. Run it on a closed
// ledger's store, e.g. after restoring a database whose indexes are
// damaged.
func RebuildIndexes(st *store.Store) error {
	err := st.RebuildIndexes(func(i uint64, leaf []byte, cert func([]byte) []byte) (store.IndexRecords, error) {
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
	if err != nil {
		return err
	}
	history, err := loadHistory(st)
	if err != nil {
		return err
	}
	return buildPackageIndex(st, history)
}

// buildPackageIndex (re)writes the package-state index in one transaction.
func buildPackageIndex(st *store.Store, history []*agreement.Agreement) error {
	return st.RebuildPackageIndex(PackageIndexVersion, func(v store.View, emit func(store.IndexOp) error) error {
		return PackageIndexRecords(v, history, emit)
	})
}

// ensurePackageIndex builds the package-state index of a file written
// before it existed, whose index was dropped, or that a server not keeping
// it has extended since (its size in meta lags), once, at open: replaying
// every package costs time linear in the log, so the start-up that does it
// is logged. Every later open finds it built.
func (l *Ledger) ensurePackageIndex() error {
	ok, err := l.st.HasPackageIndex(PackageIndexVersion)
	if err != nil || ok {
		return err
	}
	t0 := time.Now()
	if err := buildPackageIndex(l.st, l.head.Load().History); err != nil {
		return fmt.Errorf("build the package-state index: %w", err)
	}
	l.log.Info("package-state index built", "size", l.head.Load().Size, "took", time.Since(t0))
	return nil
}

// loadHistory reads every agreement of the log, in log order.
func loadHistory(st *store.Store) ([]*agreement.Agreement, error) {
	idxs, err := st.AgreementIndexes()
	if err != nil {
		return nil, err
	}
	var history []*agreement.Agreement
	for _, i := range idxs {
		leaf, err := st.Leaf(i)
		if err != nil {
			return nil, err
		}
		ag, err := parseAgreement(i, leaf)
		if err != nil {
			return nil, fmt.Errorf("agreement at %d: %w", i, err)
		}
		history = append(history, ag)
	}
	return history, nil
}

// PackageIndexRecords emits every record of the package-state index as the
// entries in v make it: each package of the package entry index replayed
// with the reducer (on compact states, so the work is linear in its
// entries), in package id order, each record once. The writer's records
// for the same log are the same (verify-db compares them).
func PackageIndexRecords(v store.View, history []*agreement.Agreement, emit func(store.IndexOp) error) error {
	authors := map[string]identity.Identity{}
	var ids []string
	v.PackageIDs(func(id string) bool { ids = append(ids, id); return true })
	for _, id := range ids {
		var p *workflow.Package
		var err error
		v.PackageEntries(id, 0, func(i uint64) bool {
			var in workflow.Input
			if in, err = viewInput(v, i, authors); err != nil {
				return false
			}
			next, aerr := workflow.Apply(agreementAt(history, i), p, in)
			if aerr != nil {
				err = fmt.Errorf("%w: package %s entry %d: %v", errCorrupt, id, i, aerr)
				return false
			}
			p = next.Compact()
			return true
		})
		if err != nil {
			return err
		}
		if p == nil {
			continue
		}
		recs := packageRecords(p, true)
		slices.SortFunc(recs, func(a, b store.IndexOp) int {
			return cmp.Or(cmp.Compare(a.Bucket, b.Bucket), bytes.Compare(a.Key, b.Key))
		})
		for _, r := range recs {
			if err := emit(r); err != nil {
				return err
			}
		}
	}
	return nil
}

// viewInput decodes the entry at index i of v for the reducer, naming
// authors from the certificates of v (cached in authors).
func viewInput(v store.View, i uint64, authors map[string]identity.Identity) (workflow.Input, error) {
	leaf := v.Leaf(i)
	if leaf == nil {
		return workflow.Input{}, fmt.Errorf("%w: entry %d is indexed but not stored", errCorrupt, i)
	}
	return leafInput(i, leaf, func(fp []byte) (identity.Identity, error) {
		if id, ok := authors[string(fp)]; ok {
			return id, nil
		}
		der := v.Certificate(fp)
		if der == nil {
			return identity.Identity{}, errors.New("signer certificate not stored")
		}
		c, err := x509.ParseCertificate(der)
		if err != nil {
			return identity.Identity{}, err
		}
		id, err := identity.Parse(c)
		if err != nil {
			return identity.Identity{}, err
		}
		authors[string(fp)] = id
		return id, nil
	})
}
