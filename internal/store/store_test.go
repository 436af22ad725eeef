package store_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/transparency-dev/merkle/compact"
	bolt "go.etcd.io/bbolt"

	"github.com/mvm-exchange/mvm/internal/store"
	"github.com/mvm-exchange/mvm/internal/testenv"
)

const (
	authorPK = "spiffe://mvm.example/party/pk/pk-liaison"
	authorAF = "spiffe://mvm.example/party/af/af-interior"
)

func u64(v uint64) []byte { return binary.BigEndian.AppendUint64(nil, v) }

func leaf(i uint64) []byte { return []byte(fmt.Sprintf("leaf %d", i)) }

func hash(level uint, index uint64) []byte {
	h := bytes.Repeat([]byte{byte(level)}, 32)
	binary.BigEndian.PutUint64(h[24:], index)
	return h
}

func open(t *testing.T, path string, o store.Options) *store.Store {
	t.Helper()
	s, err := store.Open(path, o)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return s
}

func newStore(t *testing.T) (*store.Store, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "sub", "mvm.db") // Open creates the directory
	s := open(t, path, store.Options{})
	t.Cleanup(func() { s.Close() })
	return s, path
}

// batch builds the batch for leaves [first, first+n), with a node per leaf
// at level 0, index records for package pkg and a checkpoint.
func batch(first uint64, n int, pkg string) *store.Batch {
	b := &store.Batch{First: first, Certs: map[string][]byte{}}
	for i := range n {
		idx := first + uint64(i)
		b.Leaves = append(b.Leaves, leaf(idx))
		b.Nodes = append(b.Nodes, store.Node{ID: compact.NewNodeID(0, idx), Hash: hash(0, idx)})
		if idx%2 == 1 {
			b.Nodes = append(b.Nodes, store.Node{ID: compact.NewNodeID(1, idx/2), Hash: hash(1, idx/2)})
		}
		b.MsgIDs = append(b.MsgIDs, store.KV{Key: store.MsgIDKey(authorPK, fmt.Sprintf("m-%d", idx)), Value: u64(idx)})
		if pkg != "" {
			b.Packages = append(b.Packages, store.PackageKey(pkg, idx))
		}
	}
	b.Checkpoint = []byte(fmt.Sprintf("checkpoint %d", first+uint64(n)))
	return b
}

func commit(t *testing.T, s *store.Store, b *store.Batch) {
	t.Helper()
	if err := s.Commit(b); err != nil {
		t.Fatalf("Commit(first %d, %d leaves): %v", b.First, len(b.Leaves), err)
	}
}

func size(t *testing.T, s *store.Store) uint64 {
	t.Helper()
	n, err := s.Size()
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func leaves(t *testing.T, s *store.Store, start, end uint64) ([]string, error) {
	t.Helper()
	var out []string
	err := s.Leaves(start, end, func(i uint64, l []byte) error {
		out = append(out, fmt.Sprintf("%d=%s", i, l))
		return nil
	})
	return out, err
}

func TestCommitRoundTrip(t *testing.T) {
	s, _ := newStore(t)
	if got := size(t, s); got != 0 {
		t.Fatalf("empty store size: got %v, want 0", got)
	}
	if _, ok, err := s.AgreementIndex(); ok || err != nil {
		t.Errorf("AgreementIndex on empty: got ok=%v err=%v, want false nil", ok, err)
	}
	if _, _, err := s.LatestCheckpoint(); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("LatestCheckpoint on empty: got %v, want %v", err, store.ErrNotFound)
	}

	b := batch(0, 3, "pkg-a")
	zero := uint64(0)
	b.Agreement = &zero
	b.Certs["fp-1"] = []byte("cert one")
	commit(t, s, b)
	b2 := batch(3, 2, "pkg-b")
	b2.Certs["fp-1"] = []byte("a different certificate under the same key")
	b2.Certs["fp-2"] = []byte("cert two")
	commit(t, s, b2)

	if got := size(t, s); got != 5 {
		t.Errorf("Size: got %v, want %v", got, 5)
	}
	for i := uint64(0); i < 5; i++ {
		got, err := s.Leaf(i)
		if err != nil || !bytes.Equal(got, leaf(i)) {
			t.Errorf("Leaf(%d): got %q %v, want %q", i, got, err, leaf(i))
		}
	}
	if _, err := s.Leaf(5); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Leaf(5): got %v, want %v", err, store.ErrNotFound)
	}
	// Returned leaves are copies.
	l, _ := s.Leaf(1)
	l[0] = 'X'
	if again, _ := s.Leaf(1); !bytes.Equal(again, leaf(1)) {
		t.Errorf("Leaf(1) after modifying a returned copy: got %q, want %q", again, leaf(1))
	}

	for _, tt := range []struct {
		start, end uint64
		want       string
		err        error
	}{
		{0, 5, "0=leaf 0,1=leaf 1,2=leaf 2,3=leaf 3,4=leaf 4", nil},
		{1, 3, "1=leaf 1,2=leaf 2", nil},
		{4, 4, "", nil},
		{3, 7, "3=leaf 3,4=leaf 4", store.ErrNotFound},
		{5, 6, "", store.ErrNotFound},
	} {
		got, err := leaves(t, s, tt.start, tt.end)
		if strings.Join(got, ",") != tt.want || !errors.Is(err, tt.err) {
			t.Errorf("Leaves(%d, %d): got %v %v, want %v %v", tt.start, tt.end, got, err, tt.want, tt.err)
		}
	}
	stop := errors.New("stop")
	n := 0
	if err := s.Leaves(0, 5, func(uint64, []byte) error { n++; return stop }); !errors.Is(err, stop) || n != 1 {
		t.Errorf("Leaves with a failing callback: got %v after %d calls, want %v after 1", err, n, stop)
	}

	for _, sz := range []uint64{3, 5} {
		cp, err := s.Checkpoint(sz)
		if want := fmt.Sprintf("checkpoint %d", sz); err != nil || string(cp) != want {
			t.Errorf("Checkpoint(%d): got %q %v, want %q", sz, cp, err, want)
		}
	}
	if _, err := s.Checkpoint(4); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Checkpoint(4): got %v, want %v", err, store.ErrNotFound)
	}
	if sz, cp, err := s.LatestCheckpoint(); err != nil || sz != 5 || string(cp) != "checkpoint 5" {
		t.Errorf("LatestCheckpoint: got %d %q %v, want 5 %q", sz, cp, err, "checkpoint 5")
	}

	for _, tt := range []struct {
		fp, want string
	}{{"fp-1", "cert one"}, {"fp-2", "cert two"}} {
		if got, err := s.Certificate([]byte(tt.fp)); err != nil || string(got) != tt.want {
			t.Errorf("Certificate(%s): got %q %v, want %q", tt.fp, got, err, tt.want)
		}
	}
	if _, err := s.Certificate([]byte("fp-3")); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Certificate(fp-3): got %v, want %v", err, store.ErrNotFound)
	}

	if idx, ok, err := s.AgreementIndex(); err != nil || !ok || idx != 0 {
		t.Errorf("AgreementIndex: got %v %v %v, want 0 true nil", idx, ok, err)
	}
	if got, err := s.AgreementIndexes(); err != nil || fmt.Sprint(got) != "[0]" {
		t.Errorf("AgreementIndexes: got %v %v, want [0]", got, err)
	}
	// An amendment moves the pointer and is listed.
	b3 := batch(5, 1, "")
	five := uint64(5)
	b3.Agreement = &five
	commit(t, s, b3)
	if idx, ok, err := s.AgreementIndex(); err != nil || !ok || idx != 5 {
		t.Errorf("AgreementIndex after amendment: got %v %v %v, want 5 true nil", idx, ok, err)
	}
	if got, err := s.AgreementIndexes(); err != nil || fmt.Sprint(got) != "[0 5]" {
		t.Errorf("AgreementIndexes: got %v %v, want [0 5]", got, err)
	}
}

func TestMessageIndex(t *testing.T) {
	s, _ := newStore(t)
	b := batch(0, 3, "")
	b.MsgIDs = append(b.MsgIDs, store.KV{Key: store.MsgIDKey(authorAF, "m-1"), Value: u64(2)})
	commit(t, s, b)
	for _, tt := range []struct {
		author, id string
		want       uint64
		ok         bool
	}{
		{authorPK, "m-0", 0, true},
		{authorPK, "m-2", 2, true},
		{authorAF, "m-1", 2, true},
		{authorAF, "m-0", 0, false},
		{authorPK, "m-3", 0, false},
		{authorPK + "x", "m-0", 0, false},
		{authorPK, "m", 0, false},
		{"", "m-0", 0, false},
	} {
		idx, ok, err := s.MessageIndex(tt.author, tt.id)
		if err != nil || ok != tt.ok || idx != tt.want {
			t.Errorf("MessageIndex(%q, %q): got %v %v %v, want %v %v nil", tt.author, tt.id, idx, ok, err, tt.want, tt.ok)
		}
	}
	// The key separates author and id unambiguously.
	if bytes.Equal(store.MsgIDKey("ab", "c"), store.MsgIDKey("a", "bc")) {
		t.Errorf("MsgIDKey(ab, c) == MsgIDKey(a, bc)")
	}
}

func TestCommitWrongFirst(t *testing.T) {
	s, _ := newStore(t)
	for _, first := range []uint64{1, 7} {
		b := batch(first, 2, "pkg-x")
		b.Certs["fp"] = []byte("cert")
		one := uint64(first)
		b.Agreement = &one
		if err := s.Commit(b); !errors.Is(err, store.ErrConflict) {
			t.Errorf("Commit(first %d) on an empty log: got %v, want %v", first, err, store.ErrConflict)
		}
	}
	assertEmpty(t, s)

	commit(t, s, batch(0, 3, "pkg-a"))
	for _, first := range []uint64{0, 2, 4} {
		b := batch(first, 1, "pkg-y")
		b.Leaves[0] = []byte("overwrite")
		if err := s.Commit(b); !errors.Is(err, store.ErrConflict) {
			t.Errorf("Commit(first %d) at size 3: got %v, want %v", first, err, store.ErrConflict)
		}
	}
	if got := size(t, s); got != 3 {
		t.Errorf("Size: got %v, want 3", got)
	}
	if got, _ := leaves(t, s, 0, 3); strings.Join(got, ",") != "0=leaf 0,1=leaf 1,2=leaf 2" {
		t.Errorf("leaves after refused batches: got %v", got)
	}
	if got, _ := s.PackageIndexes("pkg-y"); len(got) != 0 {
		t.Errorf("PackageIndexes(pkg-y) after refused batches: got %v, want none", got)
	}
}

// assertEmpty checks that nothing at all is stored.
func assertEmpty(t *testing.T, s *store.Store) {
	t.Helper()
	if got := size(t, s); got != 0 {
		t.Errorf("Size: got %v, want 0", got)
	}
	for i := uint64(0); i < 10; i++ {
		if _, err := s.Leaf(i); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("Leaf(%d): got %v, want %v", i, err, store.ErrNotFound)
		}
	}
	if _, _, err := s.LatestCheckpoint(); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("LatestCheckpoint: got %v, want %v", err, store.ErrNotFound)
	}
	if _, ok, _ := s.AgreementIndex(); ok {
		t.Errorf("AgreementIndex: set, want unset")
	}
	if _, err := s.Certificate([]byte("fp")); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Certificate: got %v, want %v", err, store.ErrNotFound)
	}
	var ids []string
	_ = s.PackageIDs("", func(id string) error { ids = append(ids, id); return nil })
	if len(ids) != 0 {
		t.Errorf("PackageIDs: got %v, want none", ids)
	}
	if _, ok, _ := s.MessageIndex(authorPK, "m-1"); ok {
		t.Errorf("MessageIndex: found, want none")
	}
	if _, err := s.ReadNodes([]compact.NodeID{compact.NewNodeID(0, 1)}); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("ReadNodes: got %v, want %v", err, store.ErrNotFound)
	}
}

func TestCheckpointConflict(t *testing.T) {
	t.Run("same size, no leaves", func(t *testing.T) {
		s, _ := newStore(t)
		commit(t, s, batch(0, 3, "pkg-a"))
		// Re-sending the same checkpoint for the current size is fine.
		commit(t, s, &store.Batch{First: 3, Checkpoint: []byte("checkpoint 3")})

		b := &store.Batch{First: 3, Checkpoint: []byte("a different checkpoint 3"),
			Certs:    map[string][]byte{"fp-new": []byte("cert")},
			MsgIDs:   []store.KV{{Key: store.MsgIDKey(authorAF, "late"), Value: u64(1)}},
			Packages: [][]byte{store.PackageKey("pkg-new", 1)},
		}
		one := uint64(1)
		b.Agreement = &one
		if err := s.Commit(b); !errors.Is(err, store.ErrConflict) {
			t.Fatalf("Commit: got %v, want %v", err, store.ErrConflict)
		}
		if cp, _ := s.Checkpoint(3); string(cp) != "checkpoint 3" {
			t.Errorf("Checkpoint(3): got %q, want %q", cp, "checkpoint 3")
		}
		if _, err := s.Certificate([]byte("fp-new")); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("certificate of the refused batch: got %v, want %v", err, store.ErrNotFound)
		}
		if _, ok, _ := s.MessageIndex(authorAF, "late"); ok {
			t.Errorf("message id of the refused batch was written")
		}
		if got, _ := s.PackageIndexes("pkg-new"); len(got) != 0 {
			t.Errorf("package index of the refused batch: got %v, want none", got)
		}
		if _, ok, _ := s.AgreementIndex(); ok {
			t.Errorf("agreement pointer of the refused batch was written")
		}
	})

	t.Run("batch with leaves onto a size that has a checkpoint", func(t *testing.T) {
		s, _ := newStore(t)
		commit(t, s, batch(0, 3, "pkg-a"))
		// A checkpoint for size 5 already on file (say, from a restored
		// backup): a batch that would end at 5 with another must not land.
		if err := s.DB().Update(func(tx *bolt.Tx) error {
			return tx.Bucket([]byte("checkpoints")).Put(u64(5), []byte("checkpoint 5 from elsewhere"))
		}); err != nil {
			t.Fatal(err)
		}
		b := batch(3, 2, "pkg-b")
		b.Certs["fp-b"] = []byte("cert")
		if err := s.Commit(b); !errors.Is(err, store.ErrConflict) {
			t.Fatalf("Commit: got %v, want %v", err, store.ErrConflict)
		}
		if got := size(t, s); got != 3 {
			t.Errorf("Size: got %v, want 3", got)
		}
		for _, i := range []uint64{3, 4} {
			if _, err := s.Leaf(i); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("Leaf(%d) of the refused batch: got %v, want %v", i, err, store.ErrNotFound)
			}
		}
		if _, err := s.ReadNodes([]compact.NodeID{compact.NewNodeID(0, 3)}); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("node of the refused batch: got %v, want %v", err, store.ErrNotFound)
		}
		if got, _ := s.PackageIndexes("pkg-b"); len(got) != 0 {
			t.Errorf("PackageIndexes(pkg-b): got %v, want none", got)
		}
		if _, ok, _ := s.MessageIndex(authorPK, "m-3"); ok {
			t.Errorf("message id of the refused batch was written")
		}
		if _, err := s.Certificate([]byte("fp-b")); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("certificate of the refused batch: got %v, want %v", err, store.ErrNotFound)
		}
		if cp, _ := s.Checkpoint(5); string(cp) != "checkpoint 5 from elsewhere" {
			t.Errorf("Checkpoint(5): got %q", cp)
		}
		// The same batch with the stored checkpoint goes through.
		b.Checkpoint = []byte("checkpoint 5 from elsewhere")
		commit(t, s, b)
		if got := size(t, s); got != 5 {
			t.Errorf("Size: got %v, want 5", got)
		}
	})
}

func TestPackageIDsAndIndexes(t *testing.T) {
	s, _ := newStore(t)
	// Ids chosen so that some are prefixes of others and sort around the
	// separator: "a" < "a-c" < "a.b" < "ab".
	entries := []struct {
		id  string
		idx uint64
	}{
		{"a", 0}, {"ab", 1}, {"a.b", 2}, {"a", 3}, {"b", 4}, {"a-c", 5}, {"B", 6}, {"0", 7},
		{"a", 8}, {"ab", 9}, {"a", 300}, {"a", 256}, {"b", 10},
	}
	b := &store.Batch{First: 0}
	for _, e := range entries {
		b.Packages = append(b.Packages, store.PackageKey(e.id, e.idx))
	}
	for i := range 11 {
		b.Leaves = append(b.Leaves, leaf(uint64(i)))
	}
	commit(t, s, b)

	ids := func(after string) (string, error) {
		var out []string
		err := s.PackageIDs(after, func(id string) error { out = append(out, id); return nil })
		return strings.Join(out, " "), err
	}
	for _, tt := range []struct {
		after, want string
	}{
		{"", "0 B a a-c a.b ab b"},
		{"0", "B a a-c a.b ab b"},
		{"a", "a-c a.b ab b"},
		{"a.b", "ab b"},
		{"aa", "ab b"},
		{"a-", "a-c a.b ab b"},
		{"b", ""},
		{"zzz", ""},
	} {
		got, err := ids(tt.after)
		if err != nil || got != tt.want {
			t.Errorf("PackageIDs(after %q): got %q %v, want %q", tt.after, got, err, tt.want)
		}
	}
	// PackagesLogged: prefixes of logged ids, and ids a logged id is a
	// prefix of, are not logged.
	logged, err := s.PackagesLogged([]string{"a", "a-", "a.", "aa", "ab", "B", "c", "0", ""})
	if err != nil {
		t.Fatal(err)
	}
	for id, want := range map[string]bool{"a": true, "a-": false, "a.": false, "aa": false, "ab": true, "B": true, "c": false, "0": true, "": false} {
		if has, ok := logged[id]; !ok || has != want {
			t.Errorf("PackagesLogged[%q] = %v (present %v), want %v", id, has, ok, want)
		}
	}
	stop := errors.New("stop")
	var seen []string
	err = s.PackageIDs("", func(id string) error {
		seen = append(seen, id)
		if id == "a" {
			return stop
		}
		return nil
	})
	if !errors.Is(err, stop) || strings.Join(seen, " ") != "0 B a" {
		t.Errorf("PackageIDs stopping at a: got %v %v, want [0 B a] %v", seen, err, stop)
	}

	for _, tt := range []struct {
		id   string
		want []uint64
	}{
		{"a", []uint64{0, 3, 8, 256, 300}},
		{"ab", []uint64{1, 9}},
		{"a.b", []uint64{2}},
		{"a-c", []uint64{5}},
		{"b", []uint64{4, 10}},
		{"B", []uint64{6}},
		{"", nil},
		{"c", nil},
		{"a.", nil},
	} {
		got, err := s.PackageIndexes(tt.id)
		if err != nil || !slices.Equal(got, tt.want) {
			t.Errorf("PackageIndexes(%q): got %v %v, want %v", tt.id, got, err, tt.want)
		}
	}
}

func TestReadNodes(t *testing.T) {
	s, _ := newStore(t)
	commit(t, s, batch(0, 4, ""))
	b := &store.Batch{First: 4, Nodes: []store.Node{{ID: compact.NewNodeID(2, 0), Hash: hash(2, 0)}}}
	commit(t, s, b)
	ids := []compact.NodeID{compact.NewNodeID(0, 3), compact.NewNodeID(1, 1), compact.NewNodeID(2, 0), compact.NewNodeID(0, 0)}
	got, err := s.ReadNodes(ids)
	if err != nil {
		t.Fatalf("ReadNodes: %v", err)
	}
	for i, id := range ids {
		if want := hash(id.Level, id.Index); !bytes.Equal(got[i], want) {
			t.Errorf("ReadNodes[%d] (%+v): got %x, want %x", i, id, got[i], want)
		}
	}
	if got, err := s.ReadNodes(nil); err != nil || len(got) != 0 {
		t.Errorf("ReadNodes(nil): got %v %v, want empty", got, err)
	}
	for _, missing := range []compact.NodeID{compact.NewNodeID(0, 4), compact.NewNodeID(1, 2), compact.NewNodeID(3, 0), compact.NewNodeID(9, 0)} {
		if _, err := s.ReadNodes([]compact.NodeID{compact.NewNodeID(0, 0), missing}); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("ReadNodes(%+v): got %v, want %v", missing, err, store.ErrNotFound)
		}
	}
}

func TestCosignatures(t *testing.T) {
	s, _ := newStore(t)
	commit(t, s, batch(0, 3, ""))
	commit(t, s, batch(3, 2, ""))
	if err := s.AddCosignature(4, "tr", "— tr x"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("AddCosignature for a size without checkpoint: got %v, want %v", err, store.ErrNotFound)
	}
	for _, c := range []struct {
		size      uint64
		who, line string
	}{
		{3, "tr", "— tr old"}, {3, "qa", "— qa 3"}, {3, "tr", "— tr 3"}, {5, "tr", "— tr 5"},
	} {
		if err := s.AddCosignature(c.size, c.who, c.line); err != nil {
			t.Fatalf("AddCosignature(%d, %s): %v", c.size, c.who, err)
		}
	}
	for _, tt := range []struct {
		size uint64
		want string
	}{{3, "— qa 3|— tr 3"}, {5, "— tr 5"}, {4, ""}} {
		got, err := s.Cosignatures(tt.size)
		if err != nil || strings.Join(got, "|") != tt.want {
			t.Errorf("Cosignatures(%d): got %q %v, want %q", tt.size, got, err, tt.want)
		}
	}
	var got []string
	if err := s.CosignedSizes(func(size uint64, lines []string) bool {
		slices.Sort(lines)
		got = append(got, fmt.Sprintf("%d:%s", size, strings.Join(lines, "|")))
		return true
	}); err != nil {
		t.Fatal(err)
	}
	if want := "5:— tr 5 3:— qa 3|— tr 3"; strings.Join(got, " ") != want {
		t.Errorf("CosignedSizes: got %q, want %q", strings.Join(got, " "), want)
	}
	n := 0
	_ = s.CosignedSizes(func(uint64, []string) bool { n++; return false })
	if n != 1 {
		t.Errorf("CosignedSizes stopping: got %d calls, want 1", n)
	}
}

func TestReopen(t *testing.T) {
	s, path := newStore(t)
	b := batch(0, 3, "pkg-a")
	zero := uint64(0)
	b.Agreement = &zero
	b.Certs["fp"] = []byte("cert")
	commit(t, s, b)
	commit(t, s, batch(3, 2, "pkg-b"))
	if err := s.AddCosignature(5, "qa", "— qa 5"); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}

	check := func(t *testing.T, s *store.Store) {
		t.Helper()
		if got := size(t, s); got != 5 {
			t.Errorf("Size: got %v, want 5", got)
		}
		if got, err := leaves(t, s, 0, 5); err != nil || len(got) != 5 || got[4] != "4=leaf 4" {
			t.Errorf("Leaves: got %v %v", got, err)
		}
		if sz, cp, err := s.LatestCheckpoint(); err != nil || sz != 5 || string(cp) != "checkpoint 5" {
			t.Errorf("LatestCheckpoint: got %d %q %v", sz, cp, err)
		}
		if got, err := s.PackageIndexes("pkg-b"); err != nil || fmt.Sprint(got) != "[3 4]" {
			t.Errorf("PackageIndexes(pkg-b): got %v %v, want [3 4]", got, err)
		}
		if idx, ok, err := s.MessageIndex(authorPK, "m-4"); err != nil || !ok || idx != 4 {
			t.Errorf("MessageIndex(m-4): got %v %v %v, want 4", idx, ok, err)
		}
		if got, err := s.ReadNodes([]compact.NodeID{compact.NewNodeID(1, 1)}); err != nil || !bytes.Equal(got[0], hash(1, 1)) {
			t.Errorf("ReadNodes: got %x %v", got, err)
		}
		if got, err := s.Certificate([]byte("fp")); err != nil || string(got) != "cert" {
			t.Errorf("Certificate: got %q %v", got, err)
		}
		if idx, ok, err := s.AgreementIndex(); err != nil || !ok || idx != 0 {
			t.Errorf("AgreementIndex: got %v %v %v", idx, ok, err)
		}
		if got, err := s.Cosignatures(5); err != nil || fmt.Sprint(got) != "[— qa 5]" {
			t.Errorf("Cosignatures(5): got %v %v", got, err)
		}
	}

	t.Run("read-write", func(t *testing.T) {
		s := open(t, path, store.Options{})
		check(t, s)
		// And it keeps appending where it left off.
		if err := s.Commit(batch(4, 1, "")); !errors.Is(err, store.ErrConflict) {
			t.Errorf("Commit(first 4) after reopen: got %v, want %v", err, store.ErrConflict)
		}
		commit(t, s, batch(5, 1, "pkg-b"))
		if got, _ := s.PackageIndexes("pkg-b"); fmt.Sprint(got) != "[3 4 5]" {
			t.Errorf("PackageIndexes(pkg-b): got %v, want [3 4 5]", got)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("read-only", func(t *testing.T) {
		s := open(t, path, store.Options{ReadOnly: true})
		defer s.Close()
		if got := size(t, s); got != 6 {
			t.Errorf("Size: got %v, want 6", got)
		}
		if err := s.Commit(batch(6, 1, "")); err == nil {
			t.Errorf("Commit on a read-only store: got nil, want an error")
		}
	})
}

func TestRebuildIndexes(t *testing.T) {
	s, _ := newStore(t)
	b := batch(0, 3, "pkg-a")
	zero := uint64(0)
	b.Agreement = &zero
	b.Certs["fp"] = []byte("cert")
	commit(t, s, b)
	b = batch(3, 3, "pkg-b")
	four := uint64(4)
	b.Agreement = &four
	commit(t, s, b)

	// What the committed batches indexed, as a function of the leaf.
	decode := func(i uint64, l []byte, cert func([]byte) []byte) (store.IndexRecords, error) {
		if string(l) != string(leaf(i)) {
			return store.IndexRecords{}, fmt.Errorf("leaf %d is %q", i, l)
		}
		pkg := "pkg-a"
		if i >= 3 {
			pkg = "pkg-b"
		}
		return store.IndexRecords{MsgID: store.MsgIDKey(authorPK, fmt.Sprintf("m-%d", i)),
			Package: store.PackageKey(pkg, i), Agreement: i == 0 || i == 4}, nil
	}
	state := func() string {
		var out []string
		_ = s.PackageIDs("", func(id string) error {
			idx, _ := s.PackageIndexes(id)
			out = append(out, fmt.Sprintf("%s%v", id, idx))
			return nil
		})
		for i := range 7 {
			if idx, ok, _ := s.MessageIndex(authorPK, fmt.Sprintf("m-%d", i)); ok {
				out = append(out, fmt.Sprintf("m-%d=%d", i, idx))
			}
		}
		ag, ok, _ := s.AgreementIndex()
		ags, _ := s.AgreementIndexes()
		out = append(out, fmt.Sprintf("agreement=%d/%v %v", ag, ok, ags))
		return strings.Join(out, " ")
	}
	want := state()
	if want != "pkg-a[0 1 2] pkg-b[3 4 5] m-0=0 m-1=1 m-2=2 m-3=3 m-4=4 m-5=5 agreement=4/true [0 4]" {
		t.Fatalf("committed indexes: got %v", want)
	}

	// Damage the indexes.
	if err := s.DB().Update(func(tx *bolt.Tx) error {
		if err := tx.Bucket([]byte("msgids")).Delete(store.MsgIDKey(authorPK, "m-1")); err != nil {
			return err
		}
		if err := tx.Bucket([]byte("packages")).Put(store.PackageKey("ghost", 9), nil); err != nil {
			return err
		}
		return tx.Bucket([]byte("meta")).Put([]byte("agreement"), u64(0))
	}); err != nil {
		t.Fatal(err)
	}
	damaged := state()
	if damaged == want {
		t.Fatalf("damaging the indexes changed nothing")
	}

	// A failing decode rolls everything back.
	fail := errors.New("undecodable")
	err := s.RebuildIndexes(func(i uint64, l []byte, c func([]byte) []byte) (store.IndexRecords, error) {
		if i == 3 {
			return store.IndexRecords{}, fail
		}
		return decode(i, l, c)
	})
	if !errors.Is(err, fail) {
		t.Errorf("RebuildIndexes with a failing decode: got %v, want %v", err, fail)
	}
	if got := state(); got != damaged {
		t.Errorf("after a failed rebuild:\n got  %v\n want %v", got, damaged)
	}
	// No agreement among the entries: refused, nothing changed.
	err = s.RebuildIndexes(func(i uint64, l []byte, c func([]byte) []byte) (store.IndexRecords, error) {
		r, err := decode(i, l, c)
		r.Agreement = false
		return r, err
	})
	if !errors.Is(err, store.ErrNotFound) {
		t.Errorf("RebuildIndexes without an agreement: got %v, want %v", err, store.ErrNotFound)
	}
	if got := state(); got != damaged {
		t.Errorf("after a refused rebuild:\n got  %v\n want %v", got, damaged)
	}

	// A good rebuild restores exactly what the batches wrote; it sees every
	// entry once, in order, and can look up stored certificates.
	var seen []uint64
	var certOK, missingOK bool
	err = s.RebuildIndexes(func(i uint64, l []byte, c func([]byte) []byte) (store.IndexRecords, error) {
		seen = append(seen, i)
		certOK = certOK || string(c([]byte("fp"))) == "cert"
		missingOK = missingOK || c([]byte("nope")) == nil
		return decode(i, l, c)
	})
	if err != nil {
		t.Fatalf("RebuildIndexes: %v", err)
	}
	if fmt.Sprint(seen) != "[0 1 2 3 4 5]" {
		t.Errorf("entries decoded: got %v, want [0 1 2 3 4 5]", seen)
	}
	if !certOK || !missingOK {
		t.Errorf("certificate lookup: stored found %v, missing nil %v", certOK, missingOK)
	}
	if got := state(); got != want {
		t.Errorf("after rebuild:\n got  %v\n want %v", got, want)
	}
	// The record is untouched.
	if got, err := leaves(t, s, 0, 6); err != nil || len(got) != 6 {
		t.Errorf("leaves after rebuild: got %v %v", got, err)
	}
	if sz, _, err := s.LatestCheckpoint(); err != nil || sz != 6 {
		t.Errorf("LatestCheckpoint after rebuild: got %v %v, want 6", sz, err)
	}
}

// TestHashKeys: keys follow the order in which appends complete nodes, so
// a batch's nodes land at the end of the bucket, and HashID inverts them.
func TestHashKeys(t *testing.T) {
	var prev []byte
	for n := range uint64(300) {
		// The nodes leaf n completes, in the order a tree append visits them.
		ids := []compact.NodeID{compact.NewNodeID(0, n)}
		for l := uint(1); (n+1)%(1<<l) == 0; l++ {
			ids = append(ids, compact.NewNodeID(l, n>>l))
		}
		for _, id := range ids {
			k := store.HashKey(id)
			if prev != nil && bytes.Compare(k, prev) <= 0 {
				t.Fatalf("key of %+v (%x) not after the previous one (%x)", id, k, prev)
			}
			prev = k
			if got, ok := store.HashID(k); !ok || got != id {
				t.Fatalf("HashID(HashKey(%+v)) = %+v, %v", id, got, ok)
			}
		}
	}
	for _, bad := range [][]byte{nil, {1, 2, 3}, bytes.Repeat([]byte{0xff}, 8)} {
		if _, ok := store.HashID(bad); ok {
			t.Errorf("HashID(%x) accepted", bad)
		}
	}
}

// TestMigrateNodes: a file with the tree in the layout before the hashes
// bucket (one bucket per level) is read as it is when opened read-only,
// and moved whole into hashes when opened for writing.
func TestMigrateNodes(t *testing.T) {
	s, path := newStore(t)
	commit(t, s, batch(0, 6, "p"))
	commit(t, s, &store.Batch{First: 6, Nodes: []store.Node{{ID: compact.NewNodeID(2, 0), Hash: hash(2, 0)}}})
	ids := []compact.NodeID{compact.NewNodeID(0, 0), compact.NewNodeID(0, 5), compact.NewNodeID(1, 2), compact.NewNodeID(2, 0)}
	want, err := s.ReadNodes(ids)
	if err != nil {
		t.Fatal(err)
	}
	// Rewrite the tree in the old layout: nodes/<level> → index → hash.
	err = s.DB().Update(testenv.OldNodesLayout)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()

	check := func(s *store.Store) {
		t.Helper()
		got, err := s.ReadNodes(ids)
		if err != nil {
			t.Fatal(err)
		}
		for i := range ids {
			if !bytes.Equal(got[i], want[i]) {
				t.Errorf("node %+v: %x, want %x", ids[i], got[i], want[i])
			}
		}
	}
	ro := open(t, path, store.Options{ReadOnly: true})
	check(ro)
	ro.Close()

	rw := open(t, path, store.Options{})
	defer rw.Close()
	check(rw)
	err = rw.DB().View(func(tx *bolt.Tx) error {
		if tx.Bucket([]byte("nodes")) != nil {
			t.Error("the old nodes bucket is still there")
		}
		n := tx.Bucket([]byte(store.BucketHashes)).Stats().KeyN
		if n != 10 { // 6 leaves, 3 level-1 nodes, 1 level-2 node
			t.Errorf("hashes holds %d nodes, want 10", n)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
