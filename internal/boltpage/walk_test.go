package boltpage_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	bolt "go.etcd.io/bbolt"

	"github.com/mvm-exchange/mvm/internal/boltpage"
)

// realFile is a bbolt file with deep trees: buckets of 300 keys,
// nested buckets and inline buckets, values over a page.
func realFile(t *testing.T) []byte { return realFileOfPages(t, 0) }

// realFileOfPages is realFile with pages of ps bytes (0: the OS's).
func realFileOfPages(t *testing.T, ps int) []byte {
	t.Helper()
	path := filepath.Join(t.TempDir(), "real.db")
	db, err := bolt.Open(path, 0o600, &bolt.Options{PageSize: ps})
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		for b := range 3 {
			bk, err := tx.CreateBucket([]byte(fmt.Sprint("bucket", b)))
			if err != nil {
				return err
			}
			for i := range 300 {
				if err := bk.Put(binary.BigEndian.AppendUint64(nil, uint64(i)), bytes.Repeat([]byte{byte(i)}, 100+i%7*300)); err != nil {
					return err
				}
			}
			nested, err := bk.CreateBucket([]byte("nested"))
			if err != nil {
				return err
			}
			for i := range 300 {
				if err := nested.Put(binary.BigEndian.AppendUint64(nil, uint64(i)), []byte("v")); err != nil {
					return err
				}
			}
			inline, err := bk.CreateBucket([]byte("inline"))
			if err != nil {
				return err
			}
			if err := inline.Put([]byte("k"), []byte("v")); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestCheckWalksTrees: a sound file passes; a cycle of branch pages
// below the root is refused as damage; and random bytes flipped anywhere
// in the file never make Check panic or run away (each ends in nil or an
// error wrapping ErrDamaged).
func TestCheckWalksTrees(t *testing.T) {
	good := realFile(t)
	dir := t.TempDir()
	check := func(b []byte) error {
		path := filepath.Join(dir, "f.db")
		if err := os.WriteFile(path, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return boltpage.Check(path)
	}
	if err := check(good); err != nil {
		t.Fatalf("a sound file: %v", err)
	}
	metas, _ := boltpage.ReadMetas(bytes.NewReader(good))
	m := boltpage.Current(metas)
	ps := int(m.PageSize)
	cycles := 0
	for id := 3; id < int(m.HWM); id++ {
		off := id * ps
		if binary.NativeEndian.Uint64(good[off:]) != uint64(id) || binary.NativeEndian.Uint16(good[off+8:]) != boltpage.BranchPage {
			continue
		}
		b := bytes.Clone(good)
		binary.NativeEndian.PutUint64(b[off+boltpage.PageHeaderSize+8:], uint64(id)) // its first child: itself
		err := check(b)
		if err == nil {
			continue // a free page: no tree reaches it
		}
		if !errors.Is(err, boltpage.ErrDamaged) {
			t.Errorf("page %d pointing at itself: %v, want damage", id, err)
		}
		cycles++
	}
	if cycles == 0 {
		t.Fatal("no branch page of a tree was found to damage")
	}
	r := rand.New(rand.NewPCG(1, 2))
	for range 150 {
		b := bytes.Clone(good)
		for range 1 + r.IntN(4) {
			i := 2*ps + r.IntN(len(b)-2*ps) // past the meta pages, whose checksum catches a flip
			b[i] ^= byte(1 + r.IntN(255))
		}
		if err := check(b); err != nil && !errors.Is(err, boltpage.ErrDamaged) {
			t.Errorf("a flipped byte: %v, want nil or damage", err)
		}
	}
}

// A file of 16 KiB pages (a mediator node's) is checked as one of 4 KiB;
// with its meta page 0 unreadable, meta page 1 is still found, at 16 KiB.
func TestLargerPages(t *testing.T) {
	good := realFileOfPages(t, 16<<10)
	path := filepath.Join(t.TempDir(), "f.db")
	if err := os.WriteFile(path, good, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := boltpage.Check(path); err != nil {
		t.Fatalf("a sound file of 16 KiB pages: %v", err)
	}
	metas, errs := boltpage.ReadMetas(bytes.NewReader(good))
	if errs[0] != nil || errs[1] != nil || metas[0].PageSize != 16<<10 || metas[1].PageSize != 16<<10 {
		t.Fatalf("meta pages %+v, %+v (%v, %v), want both of 16 KiB pages", metas[0], metas[1], errs[0], errs[1])
	}
	for _, damage := range []struct {
		name string
		at   int
	}{{"page size", 16 + 8}, {"checksum", 16 + 56}, {"magic", 16}} {
		b := bytes.Clone(good)
		b[damage.at] ^= 0xff
		metas, errs := boltpage.ReadMetas(bytes.NewReader(b))
		if errs[0] == nil || errs[1] != nil || metas[1].PageSize != 16<<10 {
			t.Errorf("page 0's %s damaged: meta page 1 %+v (%v), page 0's error %v; want page 1 found at 16 KiB", damage.name, metas[1], errs[1], errs[0])
		}
	}
}
