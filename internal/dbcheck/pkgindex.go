package dbcheck

import (
	"bytes"
	"encoding/binary"
	"fmt"

	"github.com/mvm-exchange/mvm/internal/ledger"
	"github.com/mvm-exchange/mvm/internal/store"
)

// checkPackageIndex compares the package-state index with what rebuilding
// it from the entries writes (ledger.PackageIndexRecords, the reducer run
// over each package): every record present with its value, nothing else.
// A file without the index (written before it), or with an index of an
// older format, is not damaged: the server (re)builds the index when it
// opens the file. The states are in packages (store.StateKey), beside the
// entry keys checkPackages checks.
func (c *checker) checkPackageIndex() {
	if c.meta == nil || c.meta.Get([]byte(store.MetaPkgIndex)) == nil {
		return
	}
	names := make([]string, len(store.PackageIndexBuckets))
	for i, b := range store.PackageIndexBuckets {
		names[i] = string(b)
	}
	switch v := c.meta.Get([]byte(store.MetaPkgIndex)); {
	case len(v) == 9 && v[0] > 0 && v[0] < ledger.PackageIndexVersion:
		// Not damage: an index of an older format, which the next server
		// to open the file (or --rebuild-indexes) rebuilds in this one.
		return
	case len(v) != 9 || v[0] != ledger.PackageIndexVersion:
		c.damage(store.BucketMeta, store.MetaPkgIndex, "value %x is not the package-state index format %d and a size", v, ledger.PackageIndexVersion)
		return
	case binary.BigEndian.Uint64(v[1:]) != c.size:
		// Not damage: a server not keeping the index extended the log;
		// the next server to open the file rebuilds it.
		return
	}
	if len(c.damagedEntries) > 0 || c.anyReported(store.BucketPackages) || c.anyReported(store.BucketEntries) {
		return // rebuilt from damaged records it would only repeat their damage
	}
	var counts, absent [3]int
	missing := func(name string) bool {
		if c.tx.Bucket([]byte(name)) == nil {
			c.damage(name, "", "bucket missing")
			return true
		}
		return false
	}
	for _, name := range names {
		if missing(name) {
			return
		}
	}
	err := ledger.PackageIndexRecords(store.ViewOf(c.tx), c.history, func(op store.IndexOp) error {
		name := names[op.Bucket]
		counts[op.Bucket]++
		got := c.tx.Bucket([]byte(name)).Get(op.Key)
		switch {
		case got == nil:
			absent[op.Bucket]++
			c.damage(name, indexKey(op.Key), "missing (rebuilding the index writes it)")
		case !bytes.Equal(got, op.Value):
			c.damage(name, indexKey(op.Key), "value %s differs from the rebuilt %s", short(got), short(op.Value))
		}
		return nil
	})
	if err != nil {
		c.damage(store.BucketPackages, "", "the package states cannot be rebuilt from the entries: %v", err)
		return
	}
	// Every record rebuilding writes is there: the bucket holds others
	// exactly when it holds more keys than the records found.
	for b, name := range names {
		n := c.states
		if store.IndexBucket(b) != store.PkgState {
			n = c.tx.Bucket([]byte(name)).Stats().KeyN
		}
		if n != counts[b]-absent[b] {
			c.extraIndexKeys(name, b, n, counts[b])
		}
	}
}

// extraIndexKeys names the keys of an index bucket that rebuilding would
// not write (it holds n, rebuilding writes want).
func (c *checker) extraIndexKeys(name string, bucket, n, want int) {
	expected := map[string]bool{}
	_ = ledger.PackageIndexRecords(store.ViewOf(c.tx), c.history, func(op store.IndexOp) error {
		if int(op.Bucket) == bucket {
			expected[string(op.Key)] = true
		}
		return nil
	})
	found := 0
	_ = c.tx.Bucket([]byte(name)).ForEach(func(k, _ []byte) error {
		if store.IndexBucket(bucket) == store.PkgState && !store.IsStateKey(k) {
			return nil // an entry key (checkPackages)
		}
		if !expected[string(k)] {
			found++
			c.damage(name, indexKey(k), "not written by rebuilding the index from the entries")
		}
		return nil
	})
	if found == 0 {
		c.damage(name, "", "holds %d keys, rebuilding writes %d", n, want)
	}
}

// indexKey renders an index key: printable bytes as they are, others as
// \xNN.
func indexKey(k []byte) string {
	var b bytes.Buffer
	for _, ch := range k {
		if ch >= 0x20 && ch < 0x7f {
			b.WriteByte(ch)
		} else {
			fmt.Fprintf(&b, "\\x%02x", ch)
		}
	}
	return b.String()
}
