package boltpage_test

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"testing"

	bolt "go.etcd.io/bbolt"

	"github.com/mvm-exchange/mvm/internal/boltpage"
)

// BenchmarkCheck times Check, the start-up walk of every bucket tree, on
// the file named by MVM_BOLTPAGE_FILE (a server's log, e.g. one made by
// internal/bench/fill: docs/PERFORMANCE.md), or else on a file of 200,000
// keys written here. The file is in the page cache after the first run:
// what is measured is the walk, not the disk.
func BenchmarkCheck(b *testing.B) {
	path := os.Getenv("MVM_BOLTPAGE_FILE")
	if path == "" {
		path = filepath.Join(b.TempDir(), "bench.db")
		db, err := bolt.Open(path, 0o600, nil)
		if err != nil {
			b.Fatal(err)
		}
		for batch := range 20 {
			err = db.Update(func(tx *bolt.Tx) error {
				bk, err := tx.CreateBucketIfNotExists([]byte("entries"))
				if err != nil {
					return err
				}
				bk.FillPercent = 1.0
				for i := range 10_000 {
					if err := bk.Put(binary.BigEndian.AppendUint64(nil, uint64(batch*10_000+i)), make([]byte, 700)); err != nil {
						return err
					}
				}
				return nil
			})
			if err != nil {
				b.Fatal(err)
			}
		}
		if err := db.Close(); err != nil {
			b.Fatal(err)
		}
	}
	fi, err := os.Stat(path)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(fi.Size())
	for b.Loop() {
		if err := boltpage.Check(path); err != nil {
			b.Fatal(err)
		}
	}
}
