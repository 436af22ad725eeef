package dbcheck

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"slices"

	"github.com/mvm-exchange/mvm/internal/entry"
	"github.com/mvm-exchange/mvm/internal/ledger"
	"github.com/mvm-exchange/mvm/internal/store"
)

// checkIndexRecords checks that the records rebuilding would write for
// entry i, o, are stored.
func (c *checker) checkIndexRecords(i uint64, o *entry.Opened) {
	r, err := ledger.IndexRecordsOpened(i, o, c.author)
	if err != nil {
		if !c.damagedEntries[i] {
			c.damage(store.BucketEntries, fmt.Sprint(i), "index records: %v", err)
			c.damagedEntries[i] = true
		}
		return
	}
	if r.MsgID != nil {
		c.wantMsgIDs++
		v, ok := has(c.msgids, r.MsgID)
		switch {
		case !ok:
			c.reported[string(r.MsgID)] = true
			c.damage(store.BucketMsgIDs, msgIDKey(r.MsgID), "missing (entry %d)", i)
		case !bytes.Equal(v, u64(i)):
			c.reported[string(r.MsgID)] = true
			c.damage(store.BucketMsgIDs, msgIDKey(r.MsgID), "points to %s, the entry is %d", numKey(v), i)
		}
	}
	if r.Package != nil {
		c.wantPackages++
		v, ok := has(c.pkgs, r.Package)
		switch {
		case !ok:
			c.reported[string(r.Package)] = true
			c.damage(store.BucketPackages, packageKey(r.Package), "missing (entry %d)", i)
		case len(v) != 0:
			c.reported[string(r.Package)] = true
			c.damage(store.BucketPackages, packageKey(r.Package), "has a value (%d bytes); index records have none", len(v))
		}
	}
	if r.Agreement {
		c.wantAgreements = append(c.wantAgreements, i)
	}
}

func (c *checker) checkMsgIDs() {
	if c.msgids == nil {
		return
	}
	n := c.msgids.Stats().KeyN
	c.rep.MsgIDs = n
	if n == c.wantMsgIDs && !c.anyReported(store.BucketMsgIDs) {
		return // every expected record is there, so nothing else is
	}
	// Something is off: find the records no entry accounts for.
	_ = c.msgids.ForEach(func(k, v []byte) error {
		if c.reported[string(k)] {
			return nil
		}
		i, ok := index(v)
		switch {
		case !ok:
			c.damage(store.BucketMsgIDs, msgIDKey(k), "value %x is not an 8-byte index", v)
		case i >= c.size:
			c.damage(store.BucketMsgIDs, msgIDKey(k), "points to %d, beyond the log's %d entries", i, c.size)
		case c.damagedEntries[i]:
			// The entry is reported; what it should index is unknown.
		default:
			r, err := ledger.IndexRecords(i, c.entries.Get(u64(i)), c.author)
			if err == nil && !bytes.Equal(r.MsgID, k) {
				c.damage(store.BucketMsgIDs, msgIDKey(k), "points to entry %d, whose message id is %s", i, msgIDKey(r.MsgID))
			}
		}
		return nil
	})
}

func (c *checker) checkPackages() {
	if c.pkgs == nil {
		return
	}
	// The bucket holds the packages' states too (index format 4): those
	// are the package-state index's, checked with it.
	n := 0
	_ = c.pkgs.ForEach(func(k, _ []byte) error {
		if store.IsStateKey(k) {
			c.states++
		} else {
			n++
		}
		return nil
	})
	c.rep.Packages = n
	if n == c.wantPackages && !c.anyReported(store.BucketPackages) {
		return
	}
	_ = c.pkgs.ForEach(func(k, v []byte) error {
		if c.reported[string(k)] || store.IsStateKey(k) {
			return nil
		}
		if len(k) < 10 || k[len(k)-9] != 0 {
			c.damage(store.BucketPackages, packageKey(k), "not a package id, 0, 8-byte index key")
			return nil
		}
		i := binary.BigEndian.Uint64(k[len(k)-8:])
		switch {
		case i >= c.size:
			c.damage(store.BucketPackages, packageKey(k), "points beyond the log's %d entries", c.size)
		case c.damagedEntries[i]:
		default:
			r, err := ledger.IndexRecords(i, c.entries.Get(u64(i)), c.author)
			if err == nil && !bytes.Equal(r.Package, k) {
				if r.Package == nil {
					c.damage(store.BucketPackages, packageKey(k), "entry %d belongs to no package", i)
				} else {
					c.damage(store.BucketPackages, packageKey(k), "entry %d belongs to package record %s", i, packageKey(r.Package))
				}
			}
		}
		return nil
	})
}

func (c *checker) anyReported(bucket string) bool {
	return c.listed[bucket] > 0 || c.rep.Omitted[bucket] > 0
}

func (c *checker) checkAgreements() {
	if c.ags == nil {
		return
	}
	var got []uint64
	_ = c.ags.ForEach(func(k, v []byte) error {
		c.rep.Agreements++
		i, ok := index(k)
		if !ok {
			c.damage(store.BucketAgreements, numKey(k), "key is not an 8-byte index")
			return nil
		}
		if len(v) != 0 {
			c.damage(store.BucketAgreements, numKey(k), "has a value (%d bytes); index records have none", len(v))
		}
		got = append(got, i)
		return nil
	})
	for _, i := range got {
		if !slices.Contains(c.wantAgreements, i) && !c.damagedEntries[i] {
			c.damage(store.BucketAgreements, fmt.Sprint(i), "entry %d is not an agreement", i)
		}
	}
	for _, i := range c.wantAgreements {
		if !slices.Contains(got, i) {
			c.damage(store.BucketAgreements, fmt.Sprint(i), "missing (entry %d is an agreement)", i)
		}
	}
}

func (c *checker) checkMeta() {
	if c.meta == nil {
		return
	}
	v := c.meta.Get([]byte(store.MetaSize))
	switch size, ok := index(v); {
	case !ok:
		c.damage(store.BucketMeta, store.MetaSize, "value %x is not an 8-byte size", v)
	case size != c.size:
		c.damage(store.BucketMeta, store.MetaSize, "says %d entries; the log has %d", size, c.size)
	}
	v = c.meta.Get([]byte(store.MetaAgreement))
	want, hasWant := uint64(0), len(c.wantAgreements) > 0
	if hasWant {
		want = c.wantAgreements[len(c.wantAgreements)-1]
	}
	switch ag, ok := index(v); {
	case v == nil && !hasWant:
	case v == nil:
		c.damage(store.BucketMeta, store.MetaAgreement, "missing (the agreement in force is entry %d)", want)
	case !ok:
		c.damage(store.BucketMeta, store.MetaAgreement, "value %x is not an 8-byte index", v)
	case !hasWant:
		c.damage(store.BucketMeta, store.MetaAgreement, "points to %d, but no entry is an agreement", ag)
	case ag != want:
		c.damage(store.BucketMeta, store.MetaAgreement, "points to %d; the agreement in force is entry %d", ag, want)
	}
}
