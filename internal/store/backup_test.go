package store_test

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/transparency-dev/merkle/compact"
	bolt "go.etcd.io/bbolt"

	"github.com/mvm-exchange/mvm/internal/store"
)

// TestBackupWhileCommitting takes backups while another goroutine commits
// batches: every copy opens as a database whose size, leaves and latest
// checkpoint are one committed state, the one BackupInfo names.
func TestBackupWhileCommitting(t *testing.T) {
	s, path := newStore(t)
	commit(t, s, batch(0, 5, "p"))

	var wg sync.WaitGroup
	stop := make(chan struct{})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for first := uint64(5); ; first += 5 {
			select {
			case <-stop:
				return
			default:
			}
			if err := s.Commit(batch(first, 5, "p")); err != nil {
				t.Error(err)
				return
			}
		}
	}()

	dir := t.TempDir()
	for i := range 5 {
		f, info, err := s.BackupToTemp()
		if err != nil {
			t.Fatal(err)
		}
		copyPath := filepath.Join(dir, fmt.Sprintf("copy-%d.db", i))
		out, err := os.Create(copyPath)
		if err != nil {
			t.Fatal(err)
		}
		n, err := io.Copy(out, f)
		f.Close()
		out.Close()
		if err != nil {
			t.Fatal(err)
		}
		if n != info.Bytes {
			t.Errorf("copy %d: %d bytes, BackupInfo.Bytes %d", i, n, info.Bytes)
		}
		if info.Size == 0 || info.Size%5 != 0 {
			t.Errorf("copy %d: size %d is not a committed batch boundary", i, info.Size)
		}
		if want := fmt.Sprintf("checkpoint %d", info.Size); string(info.Checkpoint) != want {
			t.Errorf("copy %d: checkpoint %q, want %q", i, info.Checkpoint, want)
		}
		c := open(t, copyPath, store.Options{ReadOnly: true})
		if got := size(t, c); got != info.Size {
			t.Errorf("copy %d: size %d, BackupInfo.Size %d", i, got, info.Size)
		}
		cpSize, cp, err := c.LatestCheckpoint()
		if err != nil || cpSize != info.Size || !bytes.Equal(cp, info.Checkpoint) {
			t.Errorf("copy %d: latest checkpoint (%d, %q, %v), want (%d, %q)", i, cpSize, cp, err, info.Size, info.Checkpoint)
		}
		got, err := leaves(t, c, 0, info.Size)
		if err != nil || uint64(len(got)) != info.Size {
			t.Errorf("copy %d: %d leaves (%v), want %d", i, len(got), err, info.Size)
		}
		c.Close()
	}
	close(stop)
	wg.Wait()

	// The temporary files are gone.
	names, err := os.ReadDir(filepath.Dir(path))
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range names {
		if n.Name() != filepath.Base(path) {
			t.Errorf("left behind in the database directory: %s", n.Name())
		}
	}
}

// TestLayoutNames keeps the exported names equal to the buckets a store
// really creates.
func TestLayoutNames(t *testing.T) {
	s, _ := newStore(t)
	commit(t, s, batch(0, 2, "p"))
	err := s.DB().View(func(tx *bolt.Tx) error {
		for _, name := range []string{store.BucketEntries, store.BucketHashes, store.BucketCheckpoints, store.BucketCosignatures,
			store.BucketCerts, store.BucketMsgIDs, store.BucketPackages, store.BucketAgreements, store.BucketMeta} {
			if tx.Bucket([]byte(name)) == nil {
				t.Errorf("no bucket %q", name)
			}
		}
		if v := tx.Bucket([]byte(store.BucketMeta)).Get([]byte(store.MetaSize)); !bytes.Equal(v, u64(2)) {
			t.Errorf("meta %q = %x, want size 2", store.MetaSize, v)
		}
		if tx.Bucket([]byte(store.BucketHashes)).Get(store.HashKey(compact.NewNodeID(0, 1))) == nil {
			t.Error("no hash for leaf 1 under its stored-hash index")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
