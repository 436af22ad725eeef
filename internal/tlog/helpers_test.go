package tlog

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"sort"
	"strings"
	"testing"

	fnote "github.com/transparency-dev/formats/note"
	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/rfc6962"
	"github.com/transparency-dev/merkle/testonly"
	"golang.org/x/mod/sumdb/note"
)

// memNodes is an in-memory NodeReader filled through Tree.Append's visitor.
type memNodes struct {
	m    map[compact.NodeID][]byte
	dups []compact.NodeID // nodes the visitor reported more than once
}

func newMemNodes() *memNodes { return &memNodes{m: map[compact.NodeID][]byte{}} }

func (s *memNodes) put(id compact.NodeID, hash []byte) {
	if _, ok := s.m[id]; ok {
		s.dups = append(s.dups, id)
	}
	s.m[id] = append([]byte(nil), hash...)
}

func (s *memNodes) ReadNodes(ids []compact.NodeID) ([][]byte, error) {
	out := make([][]byte, len(ids))
	for i, id := range ids {
		h, ok := s.m[id]
		if !ok {
			return nil, fmt.Errorf("node %+v: %w", id, ErrNodeNotFound)
		}
		out[i] = h
	}
	return out, nil
}

// boundedReader serves only nodes that a store would have held when the tree
// had the given size: perfect subtrees lying entirely inside [0, size).
type boundedReader struct {
	r    NodeReader
	size uint64
}

func (b boundedReader) ReadNodes(ids []compact.NodeID) ([][]byte, error) {
	for _, id := range ids {
		if _, end := id.Coverage(); end > b.size {
			return nil, fmt.Errorf("node %+v covers up to %d, beyond size %d: %w", id, end, b.size, ErrNodeNotFound)
		}
	}
	return b.r.ReadNodes(ids)
}

// testLog is a log of n leaves written through Tree.Append, with the roots
// at every size and an independent reference tree.
type testLog struct {
	tree       *Tree
	nodes      *memNodes
	leaves     [][]byte
	leafHashes [][]byte
	roots      [][]byte // roots[s] is Tree.Root() when the size was s
	ref        *testonly.Tree
	refRoots   map[uint64][]byte
}

// refRootAt memoizes refRoot of the first size leaves.
func (l *testLog) refRootAt(size uint64) []byte {
	if l.refRoots == nil {
		l.refRoots = map[uint64][]byte{}
	}
	r, ok := l.refRoots[size]
	if !ok {
		r = refRoot(l.leafHashes[:size])
		l.refRoots[size] = r
	}
	return r
}

func testLeaf(i int) []byte { return []byte(fmt.Sprintf("leaf %d of the test log", i)) }

func buildLog(t testing.TB, n int) *testLog {
	t.Helper()
	tree, err := NewTree(0, nil)
	if err != nil {
		t.Fatalf("NewTree(0, nil): %v", err)
	}
	l := &testLog{tree: tree, nodes: newMemNodes(), ref: testonly.New(rfc6962.DefaultHasher)}
	root, err := tree.Root()
	if err != nil {
		t.Fatalf("Root: %v", err)
	}
	l.roots = append(l.roots, root)
	for i := 0; i < n; i++ {
		leaf := testLeaf(i)
		lh := LeafHash(leaf)
		if err := tree.Append(lh, l.nodes.put); err != nil {
			t.Fatalf("Append(%d): %v", i, err)
		}
		root, err := tree.Root()
		if err != nil {
			t.Fatalf("Root at %d: %v", i+1, err)
		}
		l.leaves = append(l.leaves, leaf)
		l.leafHashes = append(l.leafHashes, lh)
		l.roots = append(l.roots, root)
		l.ref.AppendData(leaf)
	}
	if len(l.nodes.dups) > 0 {
		t.Fatalf("visitor reported nodes more than once: %v", l.nodes.dups)
	}
	return l
}

// refRoot is the Merkle Tree Hash of RFC 6962 section 2.1, written from the
// definition with crypto/sha256 only.
func refRoot(leafHashes [][]byte) []byte {
	switch n := len(leafHashes); n {
	case 0:
		h := sha256.Sum256(nil)
		return h[:]
	case 1:
		return leafHashes[0]
	default:
		k := 1
		for k*2 < n {
			k *= 2
		}
		h := sha256.New()
		h.Write([]byte{1})
		h.Write(refRoot(leafHashes[:k]))
		h.Write(refRoot(leafHashes[k:]))
		return h.Sum(nil)
	}
}

func refLeafHash(leaf []byte) []byte {
	h := sha256.Sum256(append([]byte{0}, leaf...))
	return h[:]
}

func flipBit(b []byte, bit int) []byte {
	c := append([]byte(nil), b...)
	c[bit/8] ^= 1 << (bit % 8)
	return c
}

func cloneHashes(p [][]byte) [][]byte {
	c := make([][]byte, len(p))
	for i := range p {
		c[i] = append([]byte(nil), p[i]...)
	}
	return c
}

func equalHashes(a, b [][]byte) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !bytes.Equal(a[i], b[i]) {
			return false
		}
	}
	return true
}

func sortedIDs(ids []compact.NodeID) []compact.NodeID {
	sort.Slice(ids, func(i, j int) bool {
		if ids[i].Level != ids[j].Level {
			return ids[i].Level < ids[j].Level
		}
		return ids[i].Index < ids[j].Index
	})
	return ids
}

// detKey generates a signed-note Ed25519 key pair deterministically from
// label (ed25519.GenerateKey reads exactly a 32-byte seed from its reader).
func detKey(t testing.TB, name, label string) (skey, vkey string) {
	t.Helper()
	seed := sha256.Sum256([]byte(label))
	skey, vkey, err := note.GenerateKey(bytes.NewReader(seed[:]), name)
	if err != nil {
		t.Fatalf("GenerateKey(%q): %v", name, err)
	}
	return skey, vkey
}

func mustSigner(t testing.TB, skey string) note.Signer {
	t.Helper()
	s, err := note.NewSigner(skey)
	if err != nil {
		t.Fatalf("NewSigner: %v", err)
	}
	return s
}

func mustVerifier(t testing.TB, vkey string) note.Verifier {
	t.Helper()
	v, err := note.NewVerifier(vkey)
	if err != nil {
		t.Fatalf("NewVerifier: %v", err)
	}
	return v
}

const testOrigin = "mvm.example/log"

// fixture is a log with a signing key.
type fixture struct {
	*testLog
	skey, vkey string
	signer     note.Signer
	verifier   note.Verifier
}

func newFixture(t testing.TB, n int) *fixture {
	t.Helper()
	skey, vkey := detKey(t, testOrigin, "log key")
	return &fixture{
		testLog:  buildLog(t, n),
		skey:     skey,
		vkey:     vkey,
		signer:   mustSigner(t, skey),
		verifier: mustVerifier(t, vkey),
	}
}

func (f *fixture) checkpoint(t testing.TB, size int) []byte {
	t.Helper()
	cp, err := SignCheckpoint(f.signer, testOrigin, uint64(size), f.roots[size])
	if err != nil {
		t.Fatalf("SignCheckpoint(%d): %v", size, err)
	}
	return cp
}

func (f *fixture) receipt(t testing.TB, index, size int) []byte {
	t.Helper()
	p, err := InclusionProof(boundedReader{f.nodes, uint64(size)}, uint64(index), uint64(size))
	if err != nil {
		t.Fatalf("InclusionProof(%d, %d): %v", index, size, err)
	}
	r, err := NewReceipt(uint64(index), p, f.checkpoint(t, size), f.leaves[index])
	if err != nil {
		t.Fatalf("NewReceipt(%d, %d): %v", index, size, err)
	}
	return r
}

// loosenBase64 returns b64 with the lowest unused bit of its last data
// character set: a different string that base64.StdEncoding (non-strict)
// decodes to the same bytes. b64 must end in padding.
func loosenBase64(t testing.TB, b64 string) string {
	t.Helper()
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
	trimmed := strings.TrimRight(b64, "=")
	if trimmed == b64 || trimmed == "" {
		t.Fatalf("loosenBase64(%q): no padding, no unused bits", b64)
	}
	last := strings.IndexByte(alphabet, trimmed[len(trimmed)-1])
	loose := trimmed[:len(trimmed)-1] + string(alphabet[last^1]) + b64[len(trimmed):]
	want, err1 := base64.StdEncoding.DecodeString(b64)
	got, err2 := base64.StdEncoding.DecodeString(loose)
	if err1 != nil || err2 != nil || !bytes.Equal(got, want) || loose == b64 {
		t.Fatalf("loosenBase64(%q) = %q: does not decode to the same bytes (%v, %v)", b64, loose, err1, err2)
	}
	return loose
}

// cosignerFor is a deterministic cosigner key pair.
func cosignerFor(t testing.TB, name string) cosigner {
	t.Helper()
	skey, plain := detKey(t, name, "cosigner "+name)
	vkey, err := fnote.VKeyToCosignatureV1(plain)
	if err != nil {
		t.Fatal(err)
	}
	return cosigner{skey, vkey}
}

func mustCosignVerifier(t testing.TB, vkey string) note.Verifier {
	t.Helper()
	v, err := fnote.NewVerifierForCosignatureV1(vkey)
	if err != nil {
		t.Fatal(err)
	}
	return v
}
