package tlog

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"testing"

	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
)

// checkInclusion builds the inclusion proof of index at size from the store
// as it was at that size, and checks it against the reference tree, the
// library verifier, this package's verifier, and a set of forgeries.
func checkInclusion(t *testing.T, l *testLog, index, size uint64, tamper bool) {
	t.Helper()
	p, err := InclusionProof(boundedReader{l.nodes, size}, index, size)
	if err != nil {
		t.Fatalf("InclusionProof(%d, %d): %v", index, size, err)
	}
	ref, err := l.ref.InclusionProof(index, size)
	if err != nil {
		t.Fatalf("reference InclusionProof(%d, %d): %v", index, size, err)
	}
	if !equalHashes(p, ref) {
		t.Fatalf("InclusionProof(%d, %d): got %x, want %x", index, size, p, ref)
	}
	root := l.refRootAt(size)
	if err := proof.VerifyInclusion(rfc6962.DefaultHasher, index, size, l.leafHashes[index], p, root); err != nil {
		t.Fatalf("library VerifyInclusion(%d, %d): %v", index, size, err)
	}
	if err := VerifyInclusion(l.leafHashes[index], index, size, p, root); err != nil {
		t.Fatalf("VerifyInclusion(%d, %d): got %v, want nil", index, size, err)
	}
	if !tamper {
		return
	}
	bad := func(what string, leafHash []byte, idx uint64, pr [][]byte) {
		t.Helper()
		if err := VerifyInclusion(leafHash, idx, size, pr, root); err == nil {
			t.Errorf("VerifyInclusion(%d, %d) with %s: got nil, want an error", index, size, what)
		}
	}
	bad("wrong leaf", LeafHash([]byte("not in the log")), index, p)
	if size > 1 {
		other := (index + 1) % size
		bad("another leaf's hash", l.leafHashes[other], index, p)
		bad("wrong index", l.leafHashes[index], other, p)
	}
	for j := range p {
		bit := int(index+size+uint64(j)*37) % 256
		q := cloneHashes(p)
		q[j] = flipBit(q[j], bit)
		if err := VerifyInclusion(l.leafHashes[index], index, size, q, root); !errors.Is(err, ErrInvalidProof) {
			t.Errorf("VerifyInclusion(%d, %d) with node %d bit %d flipped: got %v, want %v", index, size, j, bit, err, ErrInvalidProof)
		}
	}
	if len(p) > 0 {
		bad("truncated proof", l.leafHashes[index], index, p[:len(p)-1])
	}
	bad("extended proof", l.leafHashes[index], index, append(cloneHashes(p), root))
	if err := VerifyInclusion(l.leafHashes[index], index, size, p, flipBit(root, 7)); !errors.Is(err, ErrInvalidProof) {
		t.Errorf("VerifyInclusion(%d, %d) against wrong root: got %v, want %v", index, size, err, ErrInvalidProof)
	}
}

func checkConsistency(t *testing.T, l *testLog, from, to uint64, tamper bool) {
	t.Helper()
	p, err := ConsistencyProof(boundedReader{l.nodes, to}, from, to)
	if err != nil {
		t.Fatalf("ConsistencyProof(%d, %d): %v", from, to, err)
	}
	ref, err := l.ref.ConsistencyProof(from, to)
	if err != nil {
		t.Fatalf("reference ConsistencyProof(%d, %d): %v", from, to, err)
	}
	if !equalHashes(p, ref) {
		t.Fatalf("ConsistencyProof(%d, %d): got %x, want %x", from, to, p, ref)
	}
	r1, r2 := l.refRootAt(from), l.refRootAt(to)
	if err := proof.VerifyConsistency(rfc6962.DefaultHasher, from, to, p, r1, r2); err != nil {
		t.Fatalf("library VerifyConsistency(%d, %d): %v", from, to, err)
	}
	if err := VerifyConsistency(from, to, p, r1, r2); err != nil {
		t.Fatalf("VerifyConsistency(%d, %d): got %v, want nil", from, to, err)
	}
	if !tamper {
		return
	}
	if 0 < from && from < to {
		// Roots of sizes 0 < from < to are distinct, so each must matter.
		// (Every tree is consistent with the empty tree: from == 0 accepts
		// any new root, by definition.)
		if err := VerifyConsistency(from, to, p, r1, flipBit(r2, 3)); !errors.Is(err, ErrInvalidProof) {
			t.Errorf("VerifyConsistency(%d, %d) with wrong new root: got %v, want %v", from, to, err, ErrInvalidProof)
		}
		if err := VerifyConsistency(from, to, p, flipBit(r1, 3), r2); !errors.Is(err, ErrInvalidProof) {
			t.Errorf("VerifyConsistency(%d, %d) with wrong old root: got %v, want %v", from, to, err, ErrInvalidProof)
		}
	}
	for j := range p {
		q := cloneHashes(p)
		q[j] = flipBit(q[j], 100)
		if err := VerifyConsistency(from, to, q, r1, r2); !errors.Is(err, ErrInvalidProof) {
			t.Errorf("VerifyConsistency(%d, %d) with node %d flipped: got %v, want %v", from, to, j, err, ErrInvalidProof)
		}
	}
	if len(p) > 0 {
		if err := VerifyConsistency(from, to, p[:len(p)-1], r1, r2); err == nil {
			t.Errorf("VerifyConsistency(%d, %d) with truncated proof: got nil, want an error", from, to)
		}
	}
}

func TestInclusionProofsEveryPair(t *testing.T) {
	const n = 200
	l := buildLog(t, n)
	for size := uint64(1); size <= n; size++ {
		for index := uint64(0); index < size; index++ {
			checkInclusion(t, l, index, size, true)
		}
	}
}

func TestConsistencyProofsEveryPair(t *testing.T) {
	const n = 200
	l := buildLog(t, n)
	for to := uint64(0); to <= n; to++ {
		for from := uint64(0); from <= to; from++ {
			checkConsistency(t, l, from, to, true)
		}
	}
}

func TestProofsRandomPairsLarge(t *testing.T) {
	const n = 5000
	l := buildLog(t, n)
	rng := rand.New(rand.NewPCG(5000, 1))
	for i := 0; i < 300; i++ {
		size := 1 + rng.Uint64N(n)
		checkInclusion(t, l, rng.Uint64N(size), size, true)
	}
	checkInclusion(t, l, 0, n, true)
	checkInclusion(t, l, n-1, n, true)
	for i := 0; i < 300; i++ {
		to := rng.Uint64N(n + 1)
		checkConsistency(t, l, rng.Uint64N(to+1), to, true)
	}
	checkConsistency(t, l, 4096, n, true)
	checkConsistency(t, l, 1, n, true)
	checkConsistency(t, l, n-1, n, true)
}

func TestProofErrors(t *testing.T) {
	l := buildLog(t, 10)
	r := boundedReader{l.nodes, 10}
	for _, tc := range []struct {
		name    string
		run     func() error
		wantErr error
	}{
		{"inclusion index == size", func() error { _, err := InclusionProof(r, 10, 10); return err }, ErrOutOfRange},
		{"inclusion empty tree", func() error { _, err := InclusionProof(r, 0, 0); return err }, ErrOutOfRange},
		{"inclusion beyond stored tree", func() error { _, err := InclusionProof(l.nodes, 3, 20); return err }, ErrNodeNotFound},
		{"consistency from > to", func() error { _, err := ConsistencyProof(r, 5, 4); return err }, ErrOutOfRange},
		{"consistency beyond stored tree", func() error { _, err := ConsistencyProof(l.nodes, 3, 20); return err }, ErrNodeNotFound},
		{"verify inclusion index >= size", func() error {
			return VerifyInclusion(l.leafHashes[0], 5, 5, nil, l.roots[5])
		}, ErrOutOfRange},
		{"verify inclusion short leaf hash", func() error {
			return VerifyInclusion(l.leafHashes[0][:31], 0, 1, nil, l.roots[1])
		}, ErrMalformed},
		{"verify inclusion short root", func() error {
			return VerifyInclusion(l.leafHashes[0], 0, 1, nil, l.roots[1][:31])
		}, ErrMalformed},
		{"verify inclusion long proof node", func() error {
			p, _ := InclusionProof(r, 0, 2)
			return VerifyInclusion(l.leafHashes[0], 0, 2, [][]byte{append(p[0], 0)}, l.roots[2])
		}, ErrMalformed},
		{"verify consistency from > to", func() error {
			return VerifyConsistency(3, 2, nil, l.roots[3], l.roots[2])
		}, ErrOutOfRange},
		{"verify consistency from 0 with non-empty root", func() error {
			return VerifyConsistency(0, 3, nil, l.roots[1], l.roots[3])
		}, ErrInvalidProof},
		{"verify consistency equal sizes different roots", func() error {
			return VerifyConsistency(3, 3, nil, l.roots[2], l.roots[3])
		}, ErrInvalidProof},
		{"verify consistency empty proof", func() error {
			return VerifyConsistency(3, 5, nil, l.roots[3], l.roots[5])
		}, ErrInvalidProof},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.run(); !errors.Is(err, tc.wantErr) {
				t.Errorf("got %v, want %v", err, tc.wantErr)
			}
		})
	}
}

// The proof functions must not keep or modify what the reader returns.
func TestProofsCopyReaderMemory(t *testing.T) {
	l := buildLog(t, 13)
	before := map[compact.NodeID][]byte{}
	for id, h := range l.nodes.m {
		before[id] = append([]byte(nil), h...)
	}
	p, err := InclusionProof(l.nodes, 5, 13)
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range p {
		for i := range h {
			h[i] ^= 0xff
		}
	}
	if _, err := ConsistencyProof(l.nodes, 5, 13); err != nil {
		t.Fatal(err)
	}
	for id, h := range l.nodes.m {
		if got, want := h, before[id]; !bytes.Equal(got, want) {
			t.Errorf("node %+v changed: got %x, want %x", id, got, want)
		}
	}
}
