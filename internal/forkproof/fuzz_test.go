package forkproof_test

import (
	"bytes"
	"testing"

	"github.com/mvm-exchange/mvm/internal/forkproof"
)

// FuzzParse: a file is refused or is the one encoding of what it parses
// to; Verify never panics on what Parse accepts.
func FuzzParse(f *testing.F) {
	k := newLogKey(f, origin)
	t := testing.TB(f)
	a, b := newBranch(t, 9, 3, "a"), newBranch(t, 9, 3, "b")
	for _, sizes := range [][2]int{{6, 9}, {4, 9}, {5, 5}} {
		var hashes [][]byte
		if sizes[0] < sizes[1] {
			hashes = b.proof(t, sizes[0], sizes[1])
		}
		p := &forkproof.Proof{Small: k.sign(t, sizes[0], a.roots[sizes[0]]), Large: k.sign(t, sizes[1], b.roots[sizes[1]]), Hashes: hashes}
		file, err := p.Marshal()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(file)
	}
	f.Add([]byte("mvm-exchange fork proof v1\nsizes 1 2\n\n"))
	f.Fuzz(func(t *testing.T, file []byte) {
		p, err := forkproof.Parse(file)
		if err != nil {
			return
		}
		again, err := p.Marshal()
		if err != nil {
			t.Fatalf("parsed, but Marshal: %v", err)
		}
		if !bytes.Equal(again, file) {
			t.Fatalf("not the one encoding:\n%q\nre-encodes as\n%q", file, again)
		}
		_, _ = forkproof.Verify(p, k.key)
	})
}
