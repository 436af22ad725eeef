package tlog

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/rfc6962"
)

func TestLeafHash(t *testing.T) {
	for _, tc := range []struct {
		leaf string
		want string // hex; from RFC 6962 test vectors where noted
	}{
		{"", "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"}, // SHA-256(0x00)
		{"\x00", "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7"},
		{"L123456", "395aa064aa4c29f7010acfe3f25db9485bbd4b91897b6ad7ad547639252b4d56"},
	} {
		got := hex.EncodeToString(LeafHash([]byte(tc.leaf)))
		if got != tc.want {
			t.Errorf("LeafHash(%q) = %s, want %s", tc.leaf, got, tc.want)
		}
		if want := hex.EncodeToString(refLeafHash([]byte(tc.leaf))); got != want {
			t.Errorf("LeafHash(%q) = %s, want SHA-256(0x00||leaf) = %s", tc.leaf, got, want)
		}
	}
}

func TestEmptyRoot(t *testing.T) {
	const want = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
	tree, err := NewTree(0, nil)
	if err != nil {
		t.Fatalf("NewTree(0, nil): %v", err)
	}
	root, err := tree.Root()
	if err != nil {
		t.Fatalf("Root: %v", err)
	}
	if got := hex.EncodeToString(root); got != want {
		t.Errorf("empty Root() = %s, want %s", got, want)
	}
	if got := hex.EncodeToString(EmptyRoot()); got != want {
		t.Errorf("EmptyRoot() = %s, want %s", got, want)
	}
	if got := tree.Size(); got != 0 {
		t.Errorf("Size() = %d, want 0", got)
	}
}

func TestRootsMatchReference(t *testing.T) {
	const n = 200
	l := buildLog(t, n)
	for s := 0; s <= n; s++ {
		if got, want := l.roots[s], refRoot(l.leafHashes[:s]); !bytes.Equal(got, want) {
			t.Errorf("root at size %d: got %x, want %x (RFC 6962 definition)", s, got, want)
		}
		if got, want := l.roots[s], l.ref.HashAt(uint64(s)); !bytes.Equal(got, want) {
			t.Errorf("root at size %d: got %x, want %x (testonly tree)", s, got, want)
		}
	}
	if got, want := l.tree.Size(), uint64(n); got != want {
		t.Errorf("Size() = %d, want %d", got, want)
	}
}

func TestRootsMatchReferenceLarge(t *testing.T) {
	const n = 5000
	l := buildLog(t, n)
	for s := 0; s <= n; s++ {
		if got, want := l.roots[s], l.ref.HashAt(uint64(s)); !bytes.Equal(got, want) {
			t.Fatalf("root at size %d: got %x, want %x (testonly tree)", s, got, want)
		}
	}
	for _, s := range []int{1023, 1024, 1025, 4095, 4096, 4097, n} {
		if got, want := l.roots[s], refRoot(l.leafHashes[:s]); !bytes.Equal(got, want) {
			t.Errorf("root at size %d: got %x, want %x (RFC 6962 definition)", s, got, want)
		}
	}
}

// The visitor must report each perfect subtree of [0, n) exactly once, with
// its correct hash: that is what makes every proof servable from the store.
func TestAppendVisitsEveryPerfectSubtreeOnce(t *testing.T) {
	const n = 200
	l := buildLog(t, n) // buildLog fails on duplicate visits
	var want []compact.NodeID
	for level := uint(0); uint64(n)>>level > 0; level++ {
		for i := uint64(0); i < uint64(n)>>level; i++ {
			want = append(want, compact.NewNodeID(level, i))
		}
	}
	var got []compact.NodeID
	for id := range l.nodes.m {
		got = append(got, id)
	}
	got, want = sortedIDs(got), sortedIDs(want)
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("visited nodes:\ngot  %v\nwant %v", got, want)
	}
	for _, id := range got {
		begin, end := id.Coverage()
		if got, want := l.nodes.m[id], refRoot(l.leafHashes[begin:end]); !bytes.Equal(got, want) {
			t.Errorf("node %+v: got %x, want %x", id, got, want)
		}
	}
}

func TestAppendReportsLeafFirst(t *testing.T) {
	tree, _ := NewTree(0, nil)
	for i := 0; i < 8; i++ {
		var ids []compact.NodeID
		lh := LeafHash(testLeaf(i))
		if err := tree.Append(lh, func(id compact.NodeID, _ []byte) { ids = append(ids, id) }); err != nil {
			t.Fatalf("Append(%d): %v", i, err)
		}
		// Leaf i completes one node per trailing one bit of i.
		want := []compact.NodeID{compact.NewNodeID(0, uint64(i))}
		for level, idx := uint(1), uint64(i); idx&1 == 1; level, idx = level+1, idx>>1 {
			want = append(want, compact.NewNodeID(level, idx>>1))
		}
		if fmt.Sprint(ids) != fmt.Sprint(want) {
			t.Errorf("Append(%d) visited %v, want %v", i, ids, want)
		}
	}
}

// A restarted writer (NewTree from persisted nodes) must reproduce the root
// and then keep writing exactly the nodes the original writer wrote.
func TestNewTreeRestart(t *testing.T) {
	const n = 5000
	l := buildLog(t, n)
	sizes := make([]int, 0, 400)
	for s := 0; s <= 300; s++ {
		sizes = append(sizes, s)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 100; i++ {
		sizes = append(sizes, rng.IntN(n-8))
	}
	sizes = append(sizes, 1023, 1024, 2047, 2048, 4095, 4096, n-8)
	for _, s := range sizes {
		var reads int
		r := countingReader{boundedReader{l.nodes, uint64(s)}, &reads}
		tree, err := NewTree(uint64(s), r)
		if err != nil {
			t.Fatalf("NewTree(%d): %v", s, err)
		}
		if got, want := tree.Size(), uint64(s); got != want {
			t.Errorf("NewTree(%d).Size() = %d, want %d", s, got, want)
		}
		if got, max := reads, 64; got > max {
			t.Errorf("NewTree(%d) read %d nodes, want at most %d", s, got, max)
		}
		root, err := tree.Root()
		if err != nil {
			t.Fatalf("Root: %v", err)
		}
		if got, want := root, l.roots[s]; !bytes.Equal(got, want) {
			t.Errorf("NewTree(%d).Root() = %x, want %x", s, got, want)
		}
		for k := s; k < s+5 && k < n; k++ {
			err := tree.Append(l.leafHashes[k], func(id compact.NodeID, h []byte) {
				if got, want := h, l.nodes.m[id]; !bytes.Equal(got, want) {
					t.Errorf("restarted at %d, append %d: node %+v = %x, want %x", s, k, id, got, want)
				}
			})
			if err != nil {
				t.Fatalf("Append after restart: %v", err)
			}
			root, _ := tree.Root()
			if got, want := root, l.roots[k+1]; !bytes.Equal(got, want) {
				t.Errorf("restarted at %d, root at %d = %x, want %x", s, k+1, got, want)
			}
		}
	}
}

type countingReader struct {
	r     NodeReader
	count *int
}

func (c countingReader) ReadNodes(ids []compact.NodeID) ([][]byte, error) {
	*c.count += len(ids)
	return c.r.ReadNodes(ids)
}

type funcReader func(ids []compact.NodeID) ([][]byte, error)

func (f funcReader) ReadNodes(ids []compact.NodeID) ([][]byte, error) { return f(ids) }

func TestNewTreeErrors(t *testing.T) {
	l := buildLog(t, 7)
	good := func(ids []compact.NodeID) ([][]byte, error) { return l.nodes.ReadNodes(ids) }
	for _, tc := range []struct {
		name    string
		size    uint64
		read    NodeReader
		wantErr error
	}{
		{"missing node", 9, l.nodes, ErrNodeNotFound},
		{"nil reader", 7, nil, nil},
		{"too few hashes", 7, funcReader(func(ids []compact.NodeID) ([][]byte, error) {
			h, err := good(ids)
			return h[1:], err
		}), ErrMalformed},
		{"short hash", 7, funcReader(func(ids []compact.NodeID) ([][]byte, error) {
			h, err := good(ids)
			h[0] = h[0][:31]
			return h, err
		}), ErrMalformed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := NewTree(tc.size, tc.read)
			if err == nil {
				t.Fatalf("NewTree(%d) = nil error, want an error", tc.size)
			}
			if tc.wantErr != nil && !errors.Is(err, tc.wantErr) {
				t.Errorf("NewTree(%d): got %v, want %v", tc.size, err, tc.wantErr)
			}
		})
	}
}

func TestAppendRejectsBadHash(t *testing.T) {
	tree, _ := NewTree(0, nil)
	_ = tree.Append(LeafHash([]byte("a")), nil)
	for _, n := range []int{0, 31, 33} {
		err := tree.Append(make([]byte, n), nil)
		if !errors.Is(err, ErrMalformed) {
			t.Errorf("Append(%d-byte hash): got %v, want %v", n, err, ErrMalformed)
		}
		if got, want := tree.Size(), uint64(1); got != want {
			t.Errorf("Size() after rejected Append = %d, want %d", got, want)
		}
	}
}

func TestAppendCopiesLeafHash(t *testing.T) {
	l := buildLog(t, 3)
	tree, _ := NewTree(0, nil)
	for i := 0; i < 3; i++ {
		buf := append([]byte(nil), l.leafHashes[i]...)
		if err := tree.Append(buf, nil); err != nil {
			t.Fatal(err)
		}
		for j := range buf {
			buf[j] = 0xff
		}
	}
	root, _ := tree.Root()
	if got, want := root, l.roots[3]; !bytes.Equal(got, want) {
		t.Errorf("root after caller reused its buffer: got %x, want %x", got, want)
	}
}

func TestClone(t *testing.T) {
	const n = 80
	l := buildLog(t, n)
	for s := 0; s+3 <= n; s++ {
		orig, err := NewTree(uint64(s), l.nodes)
		if err != nil {
			t.Fatal(err)
		}
		for k := 1; k <= 3; k++ {
			c := orig.Clone()
			for j := 0; j < k; j++ {
				if err := c.Append(l.leafHashes[s+j], nil); err != nil {
					t.Fatal(err)
				}
			}
			croot, _ := c.Root()
			if got, want := croot, l.roots[s+k]; !bytes.Equal(got, want) {
				t.Errorf("size %d clone +%d: root %x, want %x", s, k, got, want)
			}
			oroot, _ := orig.Root()
			if got, want := oroot, l.roots[s]; !bytes.Equal(got, want) {
				t.Errorf("size %d: original root changed after clone +%d: got %x, want %x", s, k, got, want)
			}
			if got, want := orig.Size(), uint64(s); got != want {
				t.Errorf("size %d: original size changed after clone +%d: got %d, want %d", s, k, got, want)
			}
		}
		// The original, appended to after its clones, is still correct.
		if err := orig.Append(l.leafHashes[s], nil); err != nil {
			t.Fatal(err)
		}
		oroot, _ := orig.Root()
		if got, want := oroot, l.roots[s+1]; !bytes.Equal(got, want) {
			t.Errorf("size %d: original +1 root %x, want %x", s, got, want)
		}
	}
}

func TestRootIsACopy(t *testing.T) {
	l := buildLog(t, 4) // a perfect tree: the root is the range's only hash
	root, _ := l.tree.Root()
	for i := range root {
		root[i] ^= 0xff
	}
	if got, want := mustRoot(t, l.tree), refRoot(l.leafHashes); !bytes.Equal(got, want) {
		t.Errorf("Root() after the caller modified a previous result: got %x, want %x", got, want)
	}
}

func mustRoot(t *testing.T, tree *Tree) []byte {
	t.Helper()
	r, err := tree.Root()
	if err != nil {
		t.Fatalf("Root: %v", err)
	}
	return r
}

// hashChildren must agree with the library's RFC 6962 hasher on every input,
// including lengths other than HashSize (where it defers to the library).
func TestHashChildren(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, n := range [][2]int{{32, 32}, {32, 32}, {0, 0}, {31, 32}, {32, 33}, {64, 0}, {1, 100}} {
		l, r := make([]byte, n[0]), make([]byte, n[1])
		for i := range l {
			l[i] = byte(rng.Uint32())
		}
		for i := range r {
			r[i] = byte(rng.Uint32())
		}
		if got, want := hashChildren(l, r), rfc6962.DefaultHasher.HashChildren(l, r); !bytes.Equal(got, want) {
			t.Errorf("hashChildren(%d bytes, %d bytes) = %x, want %x", len(l), len(r), got, want)
		}
		if got, want := hasher.HashChildren(l, r), rfc6962.DefaultHasher.HashChildren(l, r); !bytes.Equal(got, want) {
			t.Errorf("hasher.HashChildren(%d bytes, %d bytes) = %x, want %x", len(l), len(r), got, want)
		}
	}
	if !bytes.Equal(hasher.HashLeaf([]byte("x")), rfc6962.DefaultHasher.HashLeaf([]byte("x"))) || hasher.Size() != HashSize {
		t.Error("hasher differs from rfc6962.DefaultHasher outside HashChildren")
	}
}
