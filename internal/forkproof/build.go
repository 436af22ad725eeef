package forkproof

import (
	"fmt"
	"math/bits"

	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"

	"github.com/mvm-exchange/mvm/internal/tlog"
)

func hashChildren(l, r []byte) []byte { return rfc6962.DefaultHasher.HashChildren(l, r) }

// ConsistencyProof is the full-form consistency proof from size m to n
// (0 < m < n) read from the nodes of the larger tree: tlog.ConsistencyProof,
// with the root of the first m leaves put first when m is a power of two
// (the node the standard proof leaves out; see the package doc). A
// mediator node reads it from its own store.
func ConsistencyProof(r tlog.NodeReader, m, n uint64) ([][]byte, error) {
	if m == 0 || m >= n {
		return nil, fmt.Errorf("forkproof: a proof from size %d to %d: want 0 < from < to", m, n)
	}
	std, err := tlog.ConsistencyProof(r, m, n)
	if err != nil {
		return nil, err
	}
	if m&(m-1) != 0 {
		return std, nil
	}
	seed, err := r.ReadNodes([]compact.NodeID{compact.NewNodeID(uint(bits.TrailingZeros64(m)), 0)})
	if err != nil {
		return nil, fmt.Errorf("forkproof: the root of the first %d leaves: %w", m, err)
	}
	return append([][]byte{append([]byte(nil), seed[0]...)}, std...), nil
}

// Collector builds the full-form consistency proof from m to n from the
// leaf hashes of the larger tree, given in order: what a client that reads
// the log can compute on its own, keeping only the O(log n) nodes the proof
// needs.
type Collector struct {
	m, n uint64
	tree *tlog.Tree
	want map[compact.NodeID]bool
	got  tlog.NodeMap
}

// NewCollector starts collecting for a proof from m to n (0 < m < n).
func NewCollector(m, n uint64) (*Collector, error) {
	if m == 0 || m >= n {
		return nil, fmt.Errorf("forkproof: a proof from size %d to %d: want 0 < from < to", m, n)
	}
	nodes, err := proof.Consistency(m, n)
	if err != nil {
		return nil, fmt.Errorf("forkproof: %w", err)
	}
	tree, err := tlog.NewTree(0, nil)
	if err != nil {
		return nil, err
	}
	c := &Collector{m: m, n: n, tree: tree, want: map[compact.NodeID]bool{}, got: tlog.NodeMap{}}
	for _, id := range nodes.IDs {
		c.want[id] = true
	}
	c.want[compact.NewNodeID(uint(bits.TrailingZeros64(m)), (m-1)>>bits.TrailingZeros64(m))] = true
	return c, nil
}

// Add appends the next leaf hash (leaves beyond n are ignored).
func (c *Collector) Add(leafHash []byte) error {
	if c.tree.Size() >= c.n {
		return nil
	}
	return c.tree.Append(leafHash, func(id compact.NodeID, h []byte) {
		if c.want[id] {
			c.got[id] = append([]byte(nil), h...)
		}
	})
}

// Proof returns the full-form proof and the root of the n leaves added.
func (c *Collector) Proof() (hashes [][]byte, root []byte, err error) {
	if c.tree.Size() != c.n {
		return nil, nil, fmt.Errorf("forkproof: %d leaves added, the proof needs %d", c.tree.Size(), c.n)
	}
	if root, err = c.tree.Root(); err != nil {
		return nil, nil, err
	}
	hashes, err = ConsistencyProof(c.got, c.m, c.n)
	return hashes, root, err
}
