package forkproof_test

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"strings"
	"testing"

	"golang.org/x/mod/sumdb/note"

	"github.com/mvm-exchange/mvm/internal/forkproof"
	"github.com/mvm-exchange/mvm/internal/tlog"
)

const origin = "mvm.example/forkproof-test"

// branch is a real in-memory log: every node kept, a checkpoint per size
// signed by the log key.
type branch struct {
	nodes tlog.NodeMap
	roots [][]byte // roots[s] is the root at size s
	leaf  [][]byte // leaf hashes
}

// newBranch builds a log of n leaves whose first shared leaves are those of
// the common history and the rest its own (tag).
func newBranch(t testing.TB, n, shared int, tag string) *branch {
	t.Helper()
	b := &branch{nodes: tlog.NodeMap{}, roots: [][]byte{tlog.EmptyRoot()}}
	tree, err := tlog.NewTree(0, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		leaf := fmt.Sprintf("entry %d", i)
		if i >= shared {
			leaf = fmt.Sprintf("entry %d of branch %s", i, tag)
		}
		lh := tlog.LeafHash([]byte(leaf))
		b.leaf = append(b.leaf, lh)
		if err := tree.Append(lh, func(id tlog.NodeID, h []byte) { b.nodes[id] = append([]byte(nil), h...) }); err != nil {
			t.Fatal(err)
		}
		root, err := tree.Root()
		if err != nil {
			t.Fatal(err)
		}
		b.roots = append(b.roots, root)
	}
	return b
}

type logKey struct {
	signer note.Signer
	key    note.Verifier
}

func newLogKey(t testing.TB, name string) logKey {
	t.Helper()
	skey, vkey, err := tlog.GenerateLogKey(name)
	if err != nil {
		t.Fatal(err)
	}
	s, err := note.NewSigner(skey)
	if err != nil {
		t.Fatal(err)
	}
	v, err := note.NewVerifier(vkey)
	if err != nil {
		t.Fatal(err)
	}
	return logKey{s, v}
}

func (k logKey) sign(t testing.TB, size int, root []byte) []byte {
	t.Helper()
	cp, err := tlog.SignCheckpoint(k.signer, k.key.Name(), uint64(size), root)
	if err != nil {
		t.Fatal(err)
	}
	return cp
}

func (b *branch) proof(t testing.TB, m, n int) [][]byte {
	t.Helper()
	p, err := forkproof.ConsistencyProof(b.nodes, uint64(m), uint64(n))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestVerifyEveryPair checks the rule against what the trees are: for every
// pair of sizes over two branches that share their first 5 leaves, a proof
// built from the larger tree's nodes proves a fork exactly when the smaller
// checkpoint is not a prefix of the larger one's tree; within one branch
// never. The standard proof of a log proves it as it stands unless the
// smaller size is a power of two.
func TestVerifyEveryPair(t *testing.T) {
	const size, shared = 13, 5
	k := newLogKey(t, origin)
	a, b := newBranch(t, size, shared, "a"), newBranch(t, size, shared, "b")
	for m := 1; m <= size; m++ {
		for n := m; n <= size; n++ {
			for _, c := range []struct {
				name        string
				small, big  *branch
				wantForkNow bool
			}{
				{"same branch", a, a, false},
				{"a then b", a, b, m > shared},
				{"b then a", b, a, m > shared},
			} {
				var hashes [][]byte
				if m < n {
					hashes = c.big.proof(t, m, n)
				}
				small, large := k.sign(t, m, c.small.roots[m]), k.sign(t, n, c.big.roots[n])
				p := &forkproof.Proof{Small: small, Large: large, Hashes: hashes}
				f, err := forkproof.Verify(p, k.key)
				if c.wantForkNow {
					if err != nil {
						t.Errorf("%s %d-%d: %v, want a fork", c.name, m, n, err)
					} else if !bytes.Equal(f.RootAt, c.big.roots[m]) {
						t.Errorf("%s %d-%d: RootAt %x, want %x", c.name, m, n, f.RootAt, c.big.roots[m])
					}
				} else if !errors.Is(err, forkproof.ErrNotAFork) {
					t.Errorf("%s %d-%d: %v, want ErrNotAFork", c.name, m, n, err)
				}
				if m == n || !c.wantForkNow {
					continue
				}
				// The log's own standard proof, from the larger tree.
				std, err := tlog.ConsistencyProof(c.big.nodes, uint64(m), uint64(n))
				if err != nil {
					t.Fatal(err)
				}
				_, err = forkproof.Verify(&forkproof.Proof{Small: small, Large: large, Hashes: std}, k.key)
				if isPow2 := m&(m-1) == 0; isPow2 != (err != nil) {
					t.Errorf("%s %d-%d with the standard proof: %v (power of two: %v)", c.name, m, n, err, isPow2)
				}
			}
		}
	}
}

// TestCollector: the proof computed from the leaves alone is the one read
// from the stored nodes.
func TestCollector(t *testing.T) {
	b := newBranch(t, 21, 21, "")
	for m := 1; m < 21; m++ {
		for n := m + 1; n <= 21; n++ {
			c, err := forkproof.NewCollector(uint64(m), uint64(n))
			if err != nil {
				t.Fatal(err)
			}
			for _, lh := range b.leaf { // beyond n: ignored
				if err := c.Add(lh); err != nil {
					t.Fatal(err)
				}
			}
			got, root, err := c.Proof()
			if err != nil {
				t.Fatalf("%d-%d: %v", m, n, err)
			}
			if want := b.proof(t, m, n); fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("%d-%d: collected %x, want %x", m, n, got, want)
			}
			if !bytes.Equal(root, b.roots[n]) {
				t.Errorf("%d-%d: root %x, want %x", m, n, root, b.roots[n])
			}
		}
	}
	if _, err := forkproof.NewCollector(0, 3); err == nil {
		t.Error("a collector from size 0: no error")
	}
	c, _ := forkproof.NewCollector(2, 5)
	_ = c.Add(b.leaf[0])
	if _, _, err := c.Proof(); err == nil {
		t.Error("a proof from 1 leaf of 5: no error")
	}
}

// TestRefused: each check of Verify refuses a doctored proof.
func TestRefused(t *testing.T) {
	k := newLogKey(t, origin)
	other := newLogKey(t, origin) // same name, another key
	a, b := newBranch(t, 9, 3, "a"), newBranch(t, 9, 3, "b")
	good := &forkproof.Proof{Small: k.sign(t, 6, a.roots[6]), Large: k.sign(t, 9, b.roots[9]), Hashes: b.proof(t, 6, 9)}
	if _, err := forkproof.Verify(good, k.key); err != nil {
		t.Fatalf("the good proof: %v", err)
	}
	// The log key signing another origin's body.
	otherOrigin, err := note.Sign(&note.Note{Text: fmt.Sprintf("other.example/log\n9\n%s\n", b64(b.roots[9]))}, k.signer)
	if err != nil {
		t.Fatal(err)
	}
	flipped := func(i int) [][]byte {
		h := append([][]byte(nil), good.Hashes...)
		h[i] = append([]byte(nil), h[i]...)
		h[i][0] ^= 1
		return h
	}
	garbage := sha256.Sum256([]byte("garbage"))
	for _, c := range []struct {
		name string
		p    *forkproof.Proof
		want error
	}{
		{"small signed by another key", &forkproof.Proof{Small: other.sign(t, 6, a.roots[6]), Large: good.Large, Hashes: good.Hashes}, tlog.ErrInvalidSignature},
		{"large signed by another key", &forkproof.Proof{Small: good.Small, Large: other.sign(t, 9, b.roots[9]), Hashes: good.Hashes}, tlog.ErrInvalidSignature},
		{"another origin", &forkproof.Proof{Small: good.Small, Large: otherOrigin, Hashes: good.Hashes}, tlog.ErrOriginMismatch},
		{"consistent pair", &forkproof.Proof{Small: k.sign(t, 6, b.roots[6]), Large: good.Large, Hashes: good.Hashes}, forkproof.ErrNotAFork},
		{"a hash flipped", &forkproof.Proof{Small: good.Small, Large: good.Large, Hashes: flipped(0)}, forkproof.ErrNotAFork},
		{"the last hash flipped", &forkproof.Proof{Small: good.Small, Large: good.Large, Hashes: flipped(len(good.Hashes) - 1)}, forkproof.ErrNotAFork},
		{"a hash missing", &forkproof.Proof{Small: good.Small, Large: good.Large, Hashes: good.Hashes[1:]}, forkproof.ErrMalformed},
		{"no hashes", &forkproof.Proof{Small: good.Small, Large: good.Large}, forkproof.ErrMalformed},
		{"a short hash", &forkproof.Proof{Small: good.Small, Large: good.Large, Hashes: append([][]byte{good.Hashes[0][:31]}, good.Hashes[1:]...)}, forkproof.ErrMalformed},
		{"swapped", &forkproof.Proof{Small: good.Large, Large: good.Small, Hashes: good.Hashes}, forkproof.ErrMalformed},
		{"same size, same root", &forkproof.Proof{Small: good.Large, Large: good.Large}, forkproof.ErrNotAFork},
		{"same size with hashes", &forkproof.Proof{Small: k.sign(t, 9, a.roots[9]), Large: good.Large, Hashes: good.Hashes}, forkproof.ErrMalformed},
		{"size 0", &forkproof.Proof{Small: k.sign(t, 0, garbage[:]), Large: good.Large, Hashes: good.Hashes}, forkproof.ErrNotAFork},
		{"nil", nil, forkproof.ErrMalformed},
	} {
		t.Run(c.name, func(t *testing.T) {
			if _, err := forkproof.Verify(c.p, k.key); !errors.Is(err, c.want) {
				t.Errorf("got %v, want %v", err, c.want)
			}
		})
	}
	if _, err := forkproof.Verify(good, other.key); !errors.Is(err, tlog.ErrInvalidSignature) {
		t.Errorf("under another pinned key: %v", err)
	}
	if _, err := forkproof.Make(good.Small, k.sign(t, 9, a.roots[9]), a.proof(t, 6, 9), k.key); !errors.Is(err, forkproof.ErrNotAFork) {
		t.Errorf("Make of a consistent pair: %v", err)
	}
}

// TestMake orders the checkpoints and returns only what verifies; the file
// round-trips and every truncation of it is refused.
func TestMake(t *testing.T) {
	k := newLogKey(t, origin)
	a, b := newBranch(t, 9, 3, "a"), newBranch(t, 9, 3, "b")
	big, small := k.sign(t, 8, b.roots[8]), k.sign(t, 4, a.roots[4])
	p, err := forkproof.Make(big, small, b.proof(t, 4, 8), k.key)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(p.Small, small) || !bytes.Equal(p.Large, big) {
		t.Error("Make did not put the smaller checkpoint first")
	}
	file, err := p.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(file), "mvm-exchange fork proof v1\nsizes 4 8\n") {
		t.Errorf("file starts %q", file[:40])
	}
	back, err := forkproof.Parse(file)
	if err != nil {
		t.Fatal(err)
	}
	if again, _ := back.Marshal(); !bytes.Equal(again, file) {
		t.Errorf("round trip:\n%s\nwant\n%s", again, file)
	}
	if _, err := forkproof.Verify(back, k.key); err != nil {
		t.Errorf("parsed proof: %v", err)
	}
	for i := range len(file) {
		if _, err := forkproof.Parse(file[:i]); err == nil {
			t.Errorf("truncated to %d bytes: parsed", i)
		}
	}
	// Same size: no hash lines.
	same, err := forkproof.Make(k.sign(t, 5, a.roots[5]), k.sign(t, 5, b.roots[5]), nil, k.key)
	if err != nil {
		t.Fatal(err)
	}
	file, _ = same.Marshal()
	if back, err := forkproof.Parse(file); err != nil {
		t.Error(err)
	} else if _, err := forkproof.Verify(back, k.key); err != nil {
		t.Error(err)
	}
}

// TestParseRefuses: anything but the format is refused, naming the part.
func TestParseRefuses(t *testing.T) {
	k := newLogKey(t, origin)
	a, b := newBranch(t, 9, 3, "a"), newBranch(t, 9, 3, "b")
	p, err := forkproof.Make(k.sign(t, 6, a.roots[6]), k.sign(t, 9, b.roots[9]), b.proof(t, 6, 9), k.key)
	if err != nil {
		t.Fatal(err)
	}
	file, _ := p.Marshal()
	s := string(file)
	for _, c := range []struct{ name, file string }{
		{"another version", strings.Replace(s, " v1\n", " v2\n", 1)},
		{"sizes lie", strings.Replace(s, "sizes 6 9", "sizes 6 8", 1)},
		{"the smaller size lies", strings.Replace(s, "sizes 6 9", "sizes 5 9", 1)},
		{"sizes not canonical", strings.Replace(s, "sizes 6 9", "sizes 06 9", 1)},
		{"a hash not base64", strings.Replace(s, "\n\n", "\n!!!!\n\n", 1)},
		{"trailing bytes", s + "x"},
		{"no second checkpoint", s[:strings.Index(s, "\n\n"+origin+"\n9\n")+1]},
		{"too big", s + strings.Repeat("\n", forkproof.MaxFileBytes)},
		{"empty", ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			if _, err := forkproof.Parse([]byte(c.file)); !errors.Is(err, forkproof.ErrMalformed) {
				t.Errorf("got %v, want ErrMalformed", err)
			}
		})
	}
}

func b64(h []byte) string {
	cp := tlog.Checkpoint{Origin: "x", Size: 1, Hash: h}
	return strings.Split(string(cp.Marshal()), "\n")[2]
}
