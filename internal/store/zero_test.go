//go:build linux

package store

import (
	"bytes"
	"crypto/rand"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/transparency-dev/merkle/compact"
	bolt "go.etcd.io/bbolt"
)

// Commits keep zeros written ahead of bbolt's last page, and the zeros
// never land on data: many commits across many zeroed chunks read back
// exactly, bbolt's own check passes, and so it does after a reopen.
func TestZeroAhead(t *testing.T) {
	path := filepath.Join(t.TempDir(), "mvm.db")
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	var want [][]byte
	const perBatch, batches = 8, 200 // 200 × 8 × 4 KiB: a few zeroed chunks
	for b := range batches {
		first := uint64(b * perBatch)
		batch := &Batch{First: first, Certs: map[string][]byte{}, Checkpoint: []byte(fmt.Sprintf("cp %d", first+perBatch))}
		for i := range perBatch {
			leaf := make([]byte, 4000)
			rand.Read(leaf)
			idx := first + uint64(i)
			batch.Leaves = append(batch.Leaves, leaf)
			batch.Nodes = append(batch.Nodes, Node{ID: compact.NewNodeID(0, idx), Hash: leaf[:32]})
			batch.MsgIDs = append(batch.MsgIDs, KV{Key: MsgIDKey("spiffe://a", fmt.Sprintf("%08d", idx)), Value: u64(idx)})
			want = append(want, leaf)
		}
		if err := s.Commit(batch); err != nil {
			t.Fatal(err)
		}
		if b%50 == 49 {
			checkZeroedAhead(t, s, path)
		}
	}
	check := func(s *Store) {
		t.Helper()
		i := 0
		err := s.Leaves(0, uint64(len(want)), func(idx uint64, leaf []byte) error {
			if !bytes.Equal(leaf, want[idx]) {
				return fmt.Errorf("leaf %d differs from what was committed", idx)
			}
			i++
			return nil
		})
		if err != nil || i != len(want) {
			t.Fatalf("read %d of %d leaves: %v", i, len(want), err)
		}
		err = s.db.View(func(tx *bolt.Tx) error {
			for err := range tx.Check() {
				return err
			}
			return nil
		})
		if err != nil {
			t.Fatalf("bbolt check: %v", err)
		}
	}
	check(s)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, err = Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	check(s)
}

// checkZeroedAhead insists that the file has blocks written (not a hole)
// for zeroAhead bytes beyond bbolt's last page.
func checkZeroedAhead(t *testing.T, s *Store, path string) {
	t.Helper()
	var hw int64
	s.db.View(func(tx *bolt.Tx) error { hw = tx.Size(); return nil })
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Size() < hw+zeroAhead {
		t.Fatalf("file is %d bytes, want at least %d (last page ends at %d)", fi.Size(), hw+zeroAhead, hw)
	}
	var fs syscall.Statfs_t
	if err := syscall.Statfs(path, &fs); err != nil {
		t.Fatal(err)
	}
	switch fs.Type {
	case 0xef53, 0x58465342, 0x01021994: // ext2/3/4, XFS, tmpfs keep written zeros
	default:
		return // btrfs or ZFS with compression may turn them back into holes
	}
	if blocks := fi.Sys().(*syscall.Stat_t).Blocks * 512; blocks < hw+zeroAhead {
		t.Fatalf("%d bytes allocated, want at least %d: the file has holes ahead of the log", blocks, hw+zeroAhead)
	}
}
