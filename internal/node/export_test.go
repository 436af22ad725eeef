package node

import (
	"sync/atomic"

	"golang.org/x/mod/sumdb/note"
)

// CountVerifications makes the log keys the followers build from now on
// count the signatures they verify in n, until the returned func is
// called.
func CountVerifications(n *atomic.Int64) (restore func()) {
	nv := func(vkey string) (note.Verifier, error) {
		v, err := note.NewVerifier(vkey)
		if err != nil {
			return nil, err
		}
		return counting{v, n}, nil
	}
	newVerifier.Store(&nv)
	return func() { newVerifier.Store(nil) }
}

type counting struct {
	note.Verifier
	n *atomic.Int64
}

func (c counting) Verify(msg, sig []byte) bool {
	c.n.Add(1)
	return c.Verifier.Verify(msg, sig)
}

// CountNextUsed counts in n the rounds that take what was asked for them
// while the piece before drained, until the returned func is called.
func CountNextUsed(n *atomic.Int64) (restore func()) {
	usedNext.Store(n)
	return func() { usedNext.Store(nil) }
}

// BeforeAsk calls fn as a follower begins asking for the piece starting at
// from while the piece before drains, until the returned func is called.
func BeforeAsk(fn func(from uint64)) (restore func()) {
	beforeAsk.Store(&fn)
	return func() { beforeAsk.Store(nil) }
}

// RefuseSignatures makes the log keys the followers build from now on
// refuse every signature, until the returned func is called.
func RefuseSignatures() (restore func()) {
	nv := func(vkey string) (note.Verifier, error) {
		v, err := note.NewVerifier(vkey)
		if err != nil {
			return nil, err
		}
		return refusing{v}, nil
	}
	newVerifier.Store(&nv)
	return func() { newVerifier.Store(nil) }
}

type refusing struct{ note.Verifier }

func (refusing) Verify(msg, sig []byte) bool { return false }
