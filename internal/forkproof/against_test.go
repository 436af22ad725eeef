package forkproof_test

import (
	"errors"
	"testing"

	"github.com/mvm-exchange/mvm/internal/forkproof"
	"github.com/mvm-exchange/mvm/internal/tlog"
)

// remote serves a branch's proofs and roots, or lies.
type remote struct {
	b    *branch
	lies bool
}

func (r remote) ConsistencyProof(from, to uint64) ([][]byte, error) {
	p, err := tlog.ConsistencyProof(r.b.nodes, from, to)
	if r.lies && err == nil && len(p) > 0 {
		p[0] = append([]byte(nil), p[0]...)
		p[0][0] ^= 1
	}
	return p, err
}

func (r remote) RootAt(size uint64) ([]byte, error) {
	root := append([]byte(nil), r.b.roots[size]...)
	if r.lies {
		root[0] ^= 1
	}
	return root, nil
}

// TestAgainst: a holder of branch a's tree compares every checkpoint
// size of branch b (and of a) with each of its own: a fork is proven
// exactly when there is one, smaller or larger, power of two or not; a
// consistent pair gives nothing; a source that lies about the larger tree
// proves nothing and says so.
func TestAgainst(t *testing.T) {
	const size, shared = 13, 5
	k := newLogKey(t, origin)
	a, b := newBranch(t, size, shared, "a"), newBranch(t, size, shared, "b")
	for h := 1; h <= size; h++ {
		for o := 1; o <= size; o++ {
			held := k.sign(t, h, a.roots[h])
			for _, c := range []struct {
				name  string
				other *branch
				lies  bool
			}{{"a", a, false}, {"b", b, false}, {"b, lying", b, true}} {
				fork := c.other == b && min(h, o) > shared
				p, err := forkproof.Against(held, k.sign(t, o, c.other.roots[o]), a.nodes, remote{c.other, c.lies}, k.key)
				switch {
				case c.lies && o > h:
					// Its proof does not reproduce its root: unproven,
					// fork or not, and never a proof.
					if p != nil || !errors.Is(err, forkproof.ErrNotAFork) {
						t.Errorf("%s %d-%d: %v, %v; want ErrNotAFork", c.name, h, o, p, err)
					}
				case fork:
					if err != nil || p == nil {
						t.Errorf("%s %d-%d: %v, want a proof", c.name, h, o, err)
					} else if _, err := forkproof.Verify(p, k.key); err != nil {
						t.Errorf("%s %d-%d: the proof: %v", c.name, h, o, err)
					}
				default:
					if err != nil || p != nil {
						t.Errorf("%s %d-%d: %v, %v; want neither (consistent)", c.name, h, o, p, err)
					}
				}
			}
		}
	}
}
