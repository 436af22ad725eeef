package server_test

// A server on a damaged, foreign or busy database file: a clear error
// naming `server --verify-db`, no panic, no fault, and the file left as it
// was (above all, no new genesis in it). Real bbolt files made by a real
// server, damaged the ways disks and operators damage them.

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mvm-exchange/mvm/client/mvmclient"
	"github.com/mvm-exchange/mvm/internal/boltpage"
	"github.com/mvm-exchange/mvm/internal/server"
	"github.com/mvm-exchange/mvm/internal/store"
	"github.com/mvm-exchange/mvm/internal/testenv"
	mvmv1 "github.com/mvm-exchange/mvm/proto/mvm/v1"
)

func startOn(certs, db, listen string) (*server.Server, error) {
	return server.Start(server.Config{Listen: listen, DB: db, CertsDir: certs, ReloadInterval: -1,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
}

// smallLog is a stopped server's database with a few entries.
func smallLog(t *testing.T) *testenv.Env {
	t.Helper()
	env := testenv.New(t)
	pk := env.Client(testenv.Submitter)
	for i := range 20 {
		p := &mvmv1.TargetPackage{Header: mvmclient.NewHeader(), Locations: []*mvmv1.Location{{Lat: float64(i), Lon: 1}}}
		if _, err := pk.Append(context.Background(), p); err != nil {
			t.Fatal(err)
		}
	}
	env.Stop()
	return env
}

func currentMeta(t *testing.T, b []byte) *boltpage.Meta {
	t.Helper()
	metas, errs := boltpage.ReadMetas(bytes.NewReader(b))
	if errs[0] != nil || errs[1] != nil {
		t.Fatalf("meta pages: %v, %v", errs[0], errs[1])
	}
	return boltpage.Current(metas)
}

// firstLeaf is the id of the leaf page that holds the root bucket's first
// key: root itself, or the first child of a root that has grown into a
// branch page (one 16-byte element: pos, ksize, then the child's id).
func firstLeaf(b []byte, ps, root int) int {
	off := root * ps
	if binary.LittleEndian.Uint16(b[off+8:]) == 0x01 { // branch page
		return int(binary.LittleEndian.Uint64(b[off+16+8:]))
	}
	return root
}

func TestStartRefusesDamagedFile(t *testing.T) {
	env := smallLog(t)
	good, err := os.ReadFile(env.DB)
	if err != nil {
		t.Fatal(err)
	}
	m := currentMeta(t, good)
	ps := int(m.PageSize)
	if m.Freelist == boltpage.NoFreelist {
		t.Fatal("the free list is not persisted; the free list cases would test nothing")
	}
	flipBits := func(off int, mask byte) func([]byte) []byte {
		return func(b []byte) []byte { b[off] ^= mask; return b }
	}
	flip := func(off int) func([]byte) []byte { return flipBits(off, 0x40) }
	truncate := func(n int) func([]byte) []byte { return func(b []byte) []byte { return b[:n] } }
	for _, tc := range []struct {
		name   string
		damage func([]byte) []byte
		want   string
	}{
		{"empty file", truncate(0), "empty (0 bytes)"},
		{"8 KiB", truncate(8 << 10), "it was truncated"},
		{"half of its pages", truncate(int(m.HWM) / 2 * ps), "it was truncated"},
		{"one page short", truncate((int(m.HWM) - 1) * ps), "it was truncated"},
		{"one byte short", truncate(int(m.HWM)*ps - 1), "it was truncated"},
		{"meta page 0 flipped", flip(boltpage.PageHeaderSize + 20), "meta page 0: checksum mismatch"},
		{"meta page 1 flipped", flip(ps + boltpage.PageHeaderSize + 20), "meta page 1: checksum mismatch"},
		{"meta page 0 not bbolt", flip(boltpage.PageHeaderSize), "meta page 0: not a bbolt file"},
		{"free list page type", flip(int(m.Freelist)*ps + 8), "free list: page"},
		{"free list page id", flip(int(m.Freelist)*ps + 3), "free list: page"},
		{"root page type", flip(int(m.Root)*ps + 8), "root: page"},
		// The trees' page structure is walked before bbolt opens the file.
		{"root page element count", flipBits(int(m.Root)*ps+10, 0xff), "runs past the page"},
		{"root page element count, high byte", flipBits(int(m.Root)*ps+11, 0xff), "elements do not fit in it"},
		// Past what is checked before bbolt opens the file: bbolt
		// refuses it in its first transaction.
		{"root page first element's flags", flipBits(firstLeaf(good, ps, int(m.Root))*ps+16, 0xff), "create buckets: incompatible value"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			damaged := tc.damage(bytes.Clone(good))
			db := filepath.Join(t.TempDir(), "mvm.db")
			if err := os.WriteFile(db, damaged, 0o600); err != nil {
				t.Fatal(err)
			}
			s, err := startOn(env.Certs, db, "127.0.0.1:0")
			if err == nil {
				s.Stop(context.Background())
				t.Fatal("the server started on a damaged file")
			}
			for _, want := range []string{tc.want, "server --verify-db " + db} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q, want it to say %q", err, want)
				}
			}
			if !errors.Is(err, store.ErrDamaged) {
				t.Errorf("error %v does not wrap store.ErrDamaged", err)
			}
			after, rerr := os.ReadFile(db)
			if rerr != nil || !bytes.Equal(after, damaged) {
				t.Errorf("the refused file changed (%d bytes, was %d; %v): no new genesis may be written in it", len(after), len(damaged), rerr)
			}
		})
	}
}

// TestStartRefusesLoglessFile: a valid bbolt file that holds no log and
// that this start did not create is refused, not given a genesis.
func TestStartRefusesLoglessFile(t *testing.T) {
	env := smallLog(t)
	db := filepath.Join(t.TempDir(), "mvm.db")
	st, err := store.Open(db, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	st.Close()
	s, err := startOn(env.Certs, db, "127.0.0.1:0")
	if err == nil {
		s.Stop(context.Background())
		t.Fatal("the server began a log in a file it did not create")
	}
	if !strings.Contains(err.Error(), "holds no log") {
		t.Errorf("error %q, want it to say the file holds no log", err)
	}
	st, err = store.Open(db, store.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if n, err := st.Size(); n != 0 || err != nil {
		t.Errorf("the refused file holds %d entries (%v), want none", n, err)
	}
}

// TestSecondServerOnDatabase: the file lock of the first server refuses the
// second at once, with what to check.
func TestSecondServerOnDatabase(t *testing.T) {
	env := testenv.New(t)
	s, err := startOn(env.Certs, env.DB, "127.0.0.1:0")
	if err == nil {
		s.Stop(context.Background())
		t.Fatal("a second server started on the same database")
	}
	want := "database " + env.DB + " is in use (is a server running on it?)"
	if err.Error() != want {
		t.Errorf("error %q, want %q", err, want)
	}
	if !errors.Is(err, store.ErrInUse) {
		t.Errorf("error %v does not wrap store.ErrInUse", err)
	}
	if _, err := env.Client(testenv.Submitter).API.GetCheckpoint(ctxT(t), &mvmv1.GetCheckpointRequest{}); err != nil {
		t.Errorf("the first server after the second's attempt: %v", err)
	}
}

// TestStartBindsBeforeGenesis: a server that cannot listen leaves no
// database behind, and one that cannot begin its log (no agreement)
// removes the file it created.
func TestStartBindsBeforeGenesis(t *testing.T) {
	env := testenv.New(t)
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	db := filepath.Join(t.TempDir(), "new.db")
	if s, err := startOn(env.Certs, db, busy.Addr().String()); err == nil {
		s.Stop(context.Background())
		t.Fatal("the server started on a busy port")
	}
	if _, err := os.Stat(db); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("after a failed listen the database exists (%v): a genesis was made before binding", err)
	}

	noAgreement := t.TempDir()
	for _, f := range []string{"server.crt", "server.key", "log.key"} {
		b, err := os.ReadFile(filepath.Join(env.Certs, f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(noAgreement, f), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if s, err := startOn(noAgreement, db, "127.0.0.1:0"); err == nil {
		s.Stop(context.Background())
		t.Fatal("the server started without an agreement")
	}
	if _, err := os.Stat(db); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("after a start without an agreement the new database remains (%v)", err)
	}
}

// TestStartSurvivesDamagedPages: whichever page of the file is damaged
// (here, its type: branch and leaf swapped), the server either starts (a
// free page, not in any tree) or refuses with the pointer to --verify-db:
// the walk of the trees before bbolt opens the file refuses every page of
// a tree, and bbolt's panics and faults while the log is recovered would
// become that refusal too, never a crash.
func TestStartSurvivesDamagedPages(t *testing.T) {
	env := smallLog(t)
	good, err := os.ReadFile(env.DB)
	if err != nil {
		t.Fatal(err)
	}
	m := currentMeta(t, good)
	ps := int(m.PageSize)
	refused := 0
	for id := 2; id < int(m.HWM); id++ {
		b := bytes.Clone(good)
		b[id*ps+8] ^= 0x03 // a branch page becomes a leaf page and a leaf page a branch page
		db := filepath.Join(t.TempDir(), "mvm.db")
		if err := os.WriteFile(db, b, 0o600); err != nil {
			t.Fatal(err)
		}
		s, err := startOn(env.Certs, db, "127.0.0.1:0")
		if err == nil {
			s.Stop(context.Background())
			continue
		}
		if !strings.Contains(err.Error(), "server --verify-db "+db) {
			t.Errorf("page %d damaged: error %q does not point to --verify-db", id, err)
		}
		if errors.Is(err, boltpage.ErrDamaged) {
			refused++
		}
	}
	if refused == 0 {
		t.Error("no damaged page was refused by the walk of the trees: the test exercised nothing")
	}
}

// TestStartRefusesDamagedCountDeep: a damaged element count in any branch
// page of a bucket's tree, below the file's root page, or in a leaf page,
// makes Start fail with the pointer to --verify-db, within a bound,
// instead of looping, faulting or panicking. (A branch page whose count
// takes in one element more, pointing back at the page, made bbolt
// descend for ever while the log was recovered, with some of the pages.)
func TestStartRefusesDamagedCountDeep(t *testing.T) {
	env := testenv.New(t)
	pk := env.Client(testenv.Submitter)
	for i := range 120 {
		p := &mvmv1.TargetPackage{Header: mvmclient.NewHeader(), Locations: []*mvmv1.Location{{Lat: float64(i % 90), Lon: 1}}}
		if _, err := pk.Append(context.Background(), p); err != nil {
			t.Fatal(err)
		}
	}
	env.Stop()
	good, err := os.ReadFile(env.DB)
	if err != nil {
		t.Fatal(err)
	}
	m := currentMeta(t, good)
	ps := int(m.PageSize)
	// The branch pages of the buckets' trees, below the file's root page,
	// and the last leaf page reached (on a right edge, which recovery
	// reads).
	var branches []int
	leaf := 0
	var walk func(id int, deep bool)
	walk = func(id int, deep bool) {
		off := id * ps
		flags, n := binary.LittleEndian.Uint16(good[off+8:]), int(binary.LittleEndian.Uint16(good[off+10:]))
		for i := range n {
			e := off + boltpage.PageHeaderSize + i*boltpage.ElementSize
			if flags == boltpage.BranchPage {
				walk(int(binary.LittleEndian.Uint64(good[e+8:])), true)
				continue
			}
			pos, ksize := int(binary.LittleEndian.Uint32(good[e+4:])), int(binary.LittleEndian.Uint32(good[e+8:]))
			if binary.LittleEndian.Uint32(good[e:])&boltpage.BucketLeaf != 0 {
				if root := int(binary.LittleEndian.Uint64(good[e+pos+ksize:])); root != 0 {
					walk(root, true)
				}
			}
		}
		switch {
		case !deep:
		case flags == boltpage.BranchPage:
			branches = append(branches, id)
		case flags == boltpage.LeafPage:
			leaf = id
		}
	}
	walk(int(m.Root), false)
	if len(branches) == 0 || leaf == 0 {
		t.Fatalf("no branch (%v) or leaf (%d) page below the root: the log is too small to test", branches, leaf)
	}
	count := func(b []byte, id int) uint16 { return binary.LittleEndian.Uint16(b[id*ps+10:]) }
	setCount := func(id int, n func(uint16) uint16) func([]byte) {
		return func(b []byte) { binary.LittleEndian.PutUint16(b[id*ps+10:], n(count(b, id))) }
	}
	type damage struct {
		name   string
		damage func([]byte)
	}
	cases := []damage{
		{fmt.Sprintf("leaf %d count 0xffff", leaf), setCount(leaf, func(uint16) uint16 { return 0xffff })},
		{fmt.Sprintf("leaf %d count one more", leaf), setCount(leaf, func(c uint16) uint16 { return c + 1 })},
	}
	for _, branch := range branches {
		cases = append(cases, damage{fmt.Sprintf("branch %d count one more, pointing back at its page", branch), func(b []byte) {
			n := int(count(b, branch))
			e := branch*ps + boltpage.PageHeaderSize + n*boltpage.ElementSize
			binary.LittleEndian.PutUint32(b[e:], 0)                // its key: the element's own bytes
			binary.LittleEndian.PutUint32(b[e+4:], 8)              // of 8 bytes
			binary.LittleEndian.PutUint64(b[e+8:], uint64(branch)) // its child: the page itself
			setCount(branch, func(c uint16) uint16 { return c + 1 })(b)
		}},
			damage{fmt.Sprintf("branch %d count 0", branch), setCount(branch, func(uint16) uint16 { return 0 })},
			damage{fmt.Sprintf("branch %d count 0xffff", branch), setCount(branch, func(uint16) uint16 { return 0xffff })})
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b := bytes.Clone(good)
			tc.damage(b)
			db := filepath.Join(t.TempDir(), "mvm.db")
			if err := os.WriteFile(db, b, 0o600); err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() {
				s, err := startOn(env.Certs, db, "127.0.0.1:0")
				if err == nil {
					s.Stop(context.Background())
				}
				done <- err
			}()
			select {
			case err = <-done:
			case <-time.After(30 * time.Second):
				t.Fatal("Start did not return within 30 s on a damaged count: it loops")
			}
			if err == nil {
				t.Fatal("the server started on a damaged page")
			}
			if !errors.Is(err, store.ErrDamaged) || !strings.Contains(err.Error(), "server --verify-db "+db) {
				t.Errorf("error %q: want it to say the file is damaged and point to `server --verify-db %s`", err, db)
			}
			if after, _ := os.ReadFile(db); !bytes.Equal(after, b) {
				t.Error("the refused file was changed")
			}
		})
	}
}
