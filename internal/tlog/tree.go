package tlog

import (
	"crypto/sha256"
	"fmt"

	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/rfc6962"
)

// HashSize is the size in bytes of every tree hash (SHA-256).
const HashSize = 32

// NodeID identifies a perfect subtree: Level 0 is a leaf, the node at
// (Level, Index) covers leaves [Index<<Level, (Index+1)<<Level).
type NodeID = compact.NodeID

// NodeReader reads persisted hashes of perfect subtrees, that is, every node
// a Tree.Append visitor was ever given. ReadNodes returns one hash per id, in
// order. An absent node should be reported with an error wrapping
// ErrNodeNotFound. The returned slices may alias the reader's memory: this
// package never modifies them and copies what it keeps or returns.
type NodeReader interface {
	ReadNodes(ids []compact.NodeID) ([][]byte, error)
}

// rangeFactory builds compact ranges hashing with RFC 6962.
var rangeFactory = &compact.RangeFactory{Hash: hashChildren}

// hasher is rfc6962.DefaultHasher with hashChildren for interior nodes.
var hasher = leanHasher{rfc6962.DefaultHasher}

type leanHasher struct{ *rfc6962.Hasher }

func (leanHasher) HashChildren(l, r []byte) []byte { return hashChildren(l, r) }

// hashChildren is rfc6962.DefaultHasher.HashChildren, SHA-256(0x01 || l ||
// r), without its allocation of a hash state per call: the writer, the
// receipts' self-checks and the audit hash tens of interior nodes per
// entry (TestHashChildren pins it to the library's).
func hashChildren(l, r []byte) []byte {
	if len(l) != HashSize || len(r) != HashSize {
		return rfc6962.DefaultHasher.HashChildren(l, r)
	}
	var b [1 + 2*HashSize]byte
	b[0] = rfc6962.RFC6962NodeHashPrefix
	copy(b[1:], l)
	copy(b[1+HashSize:], r)
	h := sha256.Sum256(b[:])
	return h[:]
}

// LeafHash returns the RFC 6962 leaf hash of the exact leaf bytes:
// SHA-256(0x00 || leaf).
func LeafHash(leaf []byte) []byte {
	return rfc6962.DefaultHasher.HashLeaf(leaf)
}

// EmptyRoot returns the root hash of the empty tree, SHA-256 of "".
func EmptyRoot() []byte {
	return rfc6962.DefaultHasher.EmptyRoot()
}

// Tree is the in-memory right edge of the log: a compact range [0, Size()).
// It holds O(log n) hashes and is not safe for concurrent use.
type Tree struct {
	rng *compact.Range
}

// NewTree restores the right edge of a tree of the given size by reading the
// hashes of compact.RangeNodes(0, size) through read: O(log size) nodes. A
// size of 0 reads nothing and read may then be nil.
func NewTree(size uint64, read NodeReader) (*Tree, error) {
	ids := compact.RangeNodes(0, size, nil)
	var hashes [][]byte
	if len(ids) > 0 {
		if read == nil {
			return nil, fmt.Errorf("tlog: new tree of size %d: nil NodeReader", size)
		}
		got, err := read.ReadNodes(ids)
		if err != nil {
			return nil, fmt.Errorf("tlog: new tree of size %d: reading %d nodes: %w", size, len(ids), err)
		}
		if hashes, err = copyHashes(ids, got); err != nil {
			return nil, fmt.Errorf("tlog: new tree of size %d: %w", size, err)
		}
	}
	rng, err := rangeFactory.NewRange(0, size, hashes)
	if err != nil {
		return nil, fmt.Errorf("tlog: new tree of size %d: %w", size, err)
	}
	return &Tree{rng: rng}, nil
}

// Append adds a leaf hash (see LeafHash) at index Size(). If visit is not
// nil it is called, before Append returns, with every node that this leaf
// completes: the leaf itself at level 0, then each new perfect-subtree parent
// in increasing level order. Those are exactly the nodes a store must
// persist. visit must not modify hash. On error the tree is unchanged.
func (t *Tree) Append(leafHash []byte, visit func(id compact.NodeID, hash []byte)) error {
	if len(leafHash) != HashSize {
		return fmt.Errorf("%w: leaf hash is %d bytes, want %d", ErrMalformed, len(leafHash), HashSize)
	}
	// The range keeps the slice: do not alias the caller's buffer.
	h := append([]byte(nil), leafHash...)
	if err := t.rng.Append(h, compact.VisitFn(visit)); err != nil {
		return fmt.Errorf("tlog: append at %d: %w", t.rng.End(), err)
	}
	return nil
}

// Size returns the number of leaves in the tree.
func (t *Tree) Size() uint64 { return t.rng.End() }

// Root returns (a fresh copy of) the RFC 6962 root hash of the tree; for the
// empty tree that is EmptyRoot().
func (t *Tree) Root() ([]byte, error) {
	root, err := t.rng.GetRootHash(nil)
	if err != nil {
		return nil, fmt.Errorf("tlog: root at size %d: %w", t.Size(), err)
	}
	if root == nil {
		return EmptyRoot(), nil
	}
	// For a perfect tree the root is the range's own hash: do not alias it.
	return append([]byte(nil), root...), nil
}

// Clone returns an independent copy: appending to either never affects the
// other. A writer stages a batch on a clone and keeps it only if the commit
// succeeds.
func (t *Tree) Clone() *Tree {
	// compact.Range.Append reuses the backing array of its hash slice, so
	// the slice must be copied; the hashes themselves are never modified.
	hashes := append([][]byte(nil), t.rng.Hashes()...)
	rng, err := rangeFactory.NewRange(0, t.rng.End(), hashes)
	if err != nil {
		// A Tree always holds a valid range of the right length.
		panic(fmt.Sprintf("tlog: clone of a valid tree failed: %v", err))
	}
	return &Tree{rng: rng}
}

// copyHashes checks that got has one HashSize hash per id and returns a copy.
func copyHashes(ids []compact.NodeID, got [][]byte) ([][]byte, error) {
	if len(got) != len(ids) {
		return nil, fmt.Errorf("%w: reader returned %d hashes for %d nodes", ErrMalformed, len(got), len(ids))
	}
	out := make([][]byte, len(got))
	for i, h := range got {
		if len(h) != HashSize {
			return nil, fmt.Errorf("%w: node (level %d, index %d) hash is %d bytes, want %d",
				ErrMalformed, ids[i].Level, ids[i].Index, len(h), HashSize)
		}
		out[i] = append([]byte(nil), h...)
	}
	return out, nil
}

// Edge calls visit with every node of the tree's right edge: the perfect
// subtrees of compact.RangeNodes(0, Size()), left to right. visit must not
// modify hash.
func (t *Tree) Edge(visit func(id compact.NodeID, hash []byte)) {
	ids := compact.RangeNodes(0, t.rng.End(), nil)
	for i, h := range t.rng.Hashes() {
		visit(ids[i], h)
	}
}

// NodeMap is a NodeReader over nodes held in memory. A log writer fills
// one per batch with the right edge before the batch (Tree.Edge) and the
// nodes the batch's appends create (Tree.Append's visitor): that is every
// node an inclusion proof of an entry of the batch, at the batch's size,
// reads. It must not be modified once shared.
type NodeMap map[compact.NodeID][]byte

// ReadNodes implements NodeReader.
func (m NodeMap) ReadNodes(ids []compact.NodeID) ([][]byte, error) {
	out := make([][]byte, len(ids))
	for i, id := range ids {
		h, ok := m[id]
		if !ok {
			return nil, fmt.Errorf("%w: Merkle node level %d index %d not in memory", ErrNodeNotFound, id.Level, id.Index)
		}
		out[i] = h
	}
	return out, nil
}
