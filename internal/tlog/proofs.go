package tlog

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/transparency-dev/merkle/proof"
)

// InclusionProof returns the RFC 6962 inclusion proof (audit path) of leaf
// index in the tree of the given size, built from persisted perfect-subtree
// nodes only (merkle/proof.Inclusion chooses them; ephemeral nodes are
// rehashed). Every node read lies inside [0, size). The returned hashes are
// fresh copies.
func InclusionProof(r NodeReader, index, size uint64) ([][]byte, error) {
	if index >= size {
		return nil, fmt.Errorf("%w: inclusion proof for index %d in tree of size %d", ErrOutOfRange, index, size)
	}
	nodes, err := proof.Inclusion(index, size)
	if err != nil {
		return nil, fmt.Errorf("tlog: inclusion proof (%d, %d): %w", index, size, err)
	}
	p, err := rehash(r, nodes)
	if err != nil {
		return nil, fmt.Errorf("tlog: inclusion proof (%d, %d): %w", index, size, err)
	}
	return p, nil
}

// ConsistencyProof returns the RFC 6962 consistency proof between tree sizes
// from and to (from <= to), built from persisted nodes only. Every node read
// lies inside [0, to). The proof is empty when from == 0 or from == to.
func ConsistencyProof(r NodeReader, from, to uint64) ([][]byte, error) {
	if from > to {
		return nil, fmt.Errorf("%w: consistency proof from size %d to smaller size %d", ErrOutOfRange, from, to)
	}
	nodes, err := proof.Consistency(from, to)
	if err != nil {
		return nil, fmt.Errorf("tlog: consistency proof (%d, %d): %w", from, to, err)
	}
	p, err := rehash(r, nodes)
	if err != nil {
		return nil, fmt.Errorf("tlog: consistency proof (%d, %d): %w", from, to, err)
	}
	return p, nil
}

// rehash reads the nodes of a proof and folds the ephemeral ones.
func rehash(r NodeReader, nodes proof.Nodes) ([][]byte, error) {
	if len(nodes.IDs) == 0 {
		return [][]byte{}, nil
	}
	if r == nil {
		return nil, fmt.Errorf("nil NodeReader")
	}
	got, err := r.ReadNodes(nodes.IDs)
	if err != nil {
		return nil, fmt.Errorf("reading %d nodes: %w", len(nodes.IDs), err)
	}
	// Rehash works in place: give it our own copy, never the reader's slice.
	hashes, err := copyHashes(nodes.IDs, got)
	if err != nil {
		return nil, err
	}
	p, err := nodes.Rehash(hashes, hashChildren)
	if err != nil {
		return nil, err
	}
	return p, nil
}

// VerifyInclusion checks that leafHash is at index in the tree of the given
// size whose root is root, using merkle/proof.VerifyInclusion. All hashes
// must be HashSize bytes. A failure wraps ErrInvalidProof (or ErrMalformed /
// ErrOutOfRange for bad arguments).
func VerifyInclusion(leafHash []byte, index, size uint64, proofHashes [][]byte, root []byte) error {
	if index >= size {
		return fmt.Errorf("%w: index %d not below tree size %d", ErrOutOfRange, index, size)
	}
	if err := checkHashes("leaf hash", [][]byte{leafHash}); err != nil {
		return err
	}
	if err := checkHashes("root hash", [][]byte{root}); err != nil {
		return err
	}
	if err := checkHashes("proof hash", proofHashes); err != nil {
		return err
	}
	if err := proof.VerifyInclusion(hasher, index, size, leafHash, proofHashes, root); err != nil {
		return proofError(fmt.Sprintf("inclusion of index %d in tree of size %d", index, size), err)
	}
	return nil
}

// VerifyConsistency checks that the tree of size to with root toRoot extends
// the tree of size from with root fromRoot, using
// merkle/proof.VerifyConsistency. Stricter than the library: when from is 0,
// fromRoot must be EmptyRoot(), and all hashes must be HashSize bytes.
func VerifyConsistency(from, to uint64, proofHashes [][]byte, fromRoot, toRoot []byte) error {
	if from > to {
		return fmt.Errorf("%w: consistency from size %d to smaller size %d", ErrOutOfRange, from, to)
	}
	if err := checkHashes("root hash", [][]byte{fromRoot, toRoot}); err != nil {
		return err
	}
	if err := checkHashes("proof hash", proofHashes); err != nil {
		return err
	}
	if from == 0 && !bytes.Equal(fromRoot, EmptyRoot()) {
		return fmt.Errorf("%w: root of size 0 is not the empty root", ErrInvalidProof)
	}
	if err := proof.VerifyConsistency(hasher, from, to, proofHashes, fromRoot, toRoot); err != nil {
		return proofError(fmt.Sprintf("consistency from size %d to %d", from, to), err)
	}
	return nil
}

// proofError wraps a merkle/proof verification error in ErrInvalidProof,
// printing root mismatches in hex (the library prints decimal byte lists).
func proofError(what string, err error) error {
	var mismatch proof.RootMismatchError
	if errors.As(err, &mismatch) {
		return fmt.Errorf("%w: %s: calculated root %x, want %x", ErrInvalidProof, what, mismatch.CalculatedRoot, mismatch.ExpectedRoot)
	}
	return fmt.Errorf("%w: %s: %w", ErrInvalidProof, what, err)
}

func checkHashes(what string, hashes [][]byte) error {
	for i, h := range hashes {
		if len(h) != HashSize {
			return fmt.Errorf("%w: %s %d is %d bytes, want %d", ErrMalformed, what, i, len(h), HashSize)
		}
	}
	return nil
}
