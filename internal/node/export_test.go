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
