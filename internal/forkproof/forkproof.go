package forkproof

import (
	"bytes"
	"errors"
	"fmt"
	"math/bits"

	"golang.org/x/mod/sumdb/note"

	"github.com/mvm-exchange/mvm/internal/tlog"
)

// Sentinel errors; [Verify] and [Make] wrap one of them, or a tlog error
// for a checkpoint that does not open under the pinned key.
var (
	// ErrNotAFork is a well-formed pair of signed checkpoints that does not
	// show a fork: consistent, or not provably inconsistent with the hashes
	// given (see the package doc). Nothing is proven; keep refusing what
	// you refused, and look for a proof that reproduces the larger root.
	ErrNotAFork = errors.New("forkproof: not a proof of a fork")
	// ErrMalformed is a file that is not a version 1 fork proof.
	ErrMalformed = errors.New("forkproof: malformed fork proof")
)

// Proof is a fork proof: two signed checkpoints, Small of size m and Large
// of size n >= m, and the full-form consistency proof from m to n (empty
// when m == n).
type Proof struct {
	Small, Large []byte
	Hashes       [][]byte
}

// Fork is what a verified proof shows.
type Fork struct {
	Origin string
	// Small and Large are the two checkpoints the log signed.
	Small, Large *tlog.Checkpoint
	// RootAt is the root of the first Small.Size leaves of every tree
	// with Large's root (Large.Hash itself when the sizes are equal): the
	// root the log should have signed at Small.Size.
	RootAt []byte
}

// Make orders two signed checkpoints by size, pairs them with hashes (a
// full-form consistency proof between their sizes, see [ConsistencyProof];
// nil when the sizes are equal) and returns the proof only if it [Verify]s.
func Make(a, b []byte, hashes [][]byte, logKey note.Verifier) (*Proof, error) {
	ca, err := open(a, logKey, "first")
	if err != nil {
		return nil, err
	}
	cb, err := open(b, logKey, "second")
	if err != nil {
		return nil, err
	}
	p, _, err := makeOpened(&Checkpoint{a, ca}, &Checkpoint{b, cb}, hashes)
	return p, err
}

// makeOpened is Make over checkpoints opened already: no signature is
// verified again. It returns the fork the proof shows.
func makeOpened(a, b *Checkpoint, hashes [][]byte) (*Proof, *Fork, error) {
	small, large := a, b
	if a.Size > b.Size {
		small, large = b, a
	}
	f, err := verifyOpened(small, large, hashes)
	if err != nil {
		return nil, nil, err
	}
	return &Proof{Small: small.Signed, Large: large.Signed, Hashes: hashes}, f, nil
}

// Verify checks p offline under the pinned log key and returns the fork it
// shows. The error is nil only when p proves that the log signed two
// inconsistent checkpoints (the rule of the package doc).
func Verify(p *Proof, logKey note.Verifier) (*Fork, error) {
	if p == nil {
		return nil, fmt.Errorf("%w: no proof", ErrMalformed)
	}
	small, err := open(p.Small, logKey, "smaller")
	if err != nil {
		return nil, err
	}
	large, err := open(p.Large, logKey, "larger")
	if err != nil {
		return nil, err
	}
	return verifyOpened(&Checkpoint{p.Small, small}, &Checkpoint{p.Large, large}, p.Hashes)
}

// verifyOpened is Verify's rule over two checkpoints opened under the
// log key.
func verifyOpened(smallCP, largeCP *Checkpoint, hashes [][]byte) (*Fork, error) {
	small, large := smallCP.Checkpoint, largeCP.Checkpoint
	f := &Fork{Origin: small.Origin, Small: small, Large: large}
	switch m, n := small.Size, large.Size; {
	case m > n:
		return nil, fmt.Errorf("%w: the first checkpoint (size %d) is larger than the second (size %d)", ErrMalformed, m, n)
	case m == n:
		if len(hashes) != 0 {
			return nil, fmt.Errorf("%w: %d hashes with two checkpoints of one size", ErrMalformed, len(hashes))
		}
		if bytes.Equal(small.Hash, large.Hash) {
			return nil, fmt.Errorf("%w: both checkpoints of size %d have the same root", ErrNotAFork, m)
		}
		f.RootAt = large.Hash
		return f, nil
	case m == 0:
		return nil, fmt.Errorf("%w: a checkpoint of size 0 has a fixed root and cannot fork", ErrNotAFork)
	}
	rootAt, rootN, err := roots(small.Size, large.Size, hashes)
	if err != nil {
		return nil, err
	}
	if !bytes.Equal(rootN, large.Hash) {
		// Anyone can write a proof that fails: only one that reproduces
		// the larger signed root binds its hashes to that tree.
		return nil, fmt.Errorf("%w: the hashes give root %x at size %d, the log signed %x: they are not that tree's nodes",
			ErrNotAFork, rootN, large.Size, large.Hash)
	}
	if bytes.Equal(rootAt, small.Hash) {
		return nil, fmt.Errorf("%w: the checkpoints of sizes %d and %d are consistent", ErrNotAFork, small.Size, large.Size)
	}
	f.RootAt = rootAt
	return f, nil
}

// Checkpoint is a signed checkpoint opened under the log key
// (tlog.OpenCheckpoint): a holder that compares many checkpoints with the
// one it holds opens each once.
type Checkpoint struct {
	// Signed is the signed note as served.
	Signed []byte
	*tlog.Checkpoint
}

// open opens one signed checkpoint under the pinned key, whose name is the
// origin.
func open(signed []byte, logKey note.Verifier, which string) (*tlog.Checkpoint, error) {
	if logKey == nil {
		return nil, fmt.Errorf("%w: no log key", tlog.ErrInvalidKey)
	}
	cp, _, err := tlog.OpenCheckpoint(signed, logKey.Name(), logKey)
	if err != nil {
		return nil, fmt.Errorf("the %s of the two: %w", which, err)
	}
	return cp, nil
}

// roots runs the RFC 9162 consistency verification chain over a full-form
// proof from m to n (0 < m < n): the seed is always hashes[0]. It returns
// the root of the first m leaves and the root of the n leaves the hashes
// give (transparency-dev/merkle's proof.VerifyConsistency, computing both
// roots instead of comparing them).
func roots(m, n uint64, hashes [][]byte) (rootM, rootN []byte, err error) {
	index := m - 1
	inner := bits.Len64(index ^ (n - 1))
	border := bits.OnesCount64(index >> uint(inner))
	shift := bits.TrailingZeros64(m)
	inner -= shift
	if want := 1 + inner + border; len(hashes) != want {
		return nil, nil, fmt.Errorf("%w: %d hashes, a full-form proof from size %d to %d has %d", ErrMalformed, len(hashes), m, n, want)
	}
	for i, h := range hashes {
		if len(h) != tlog.HashSize {
			return nil, nil, fmt.Errorf("%w: hash %d is %d bytes, want %d", ErrMalformed, i, len(h), tlog.HashSize)
		}
	}
	seed, rest := hashes[0], hashes[1:]
	mask := index >> uint(shift)
	rootM, rootN = seed, seed
	for i, h := range rest[:inner] {
		if (mask>>uint(i))&1 == 1 {
			// A left sibling: inside the first m leaves, in both roots.
			rootM = hashChildren(h, rootM)
			rootN = hashChildren(h, rootN)
		} else {
			// A right sibling: beyond m, in the larger tree only.
			rootN = hashChildren(rootN, h)
		}
	}
	for _, h := range rest[inner:] {
		rootM = hashChildren(h, rootM)
		rootN = hashChildren(h, rootN)
	}
	return rootM, rootN, nil
}
