package node

import (
	"errors"
	"testing"
)

// TestAskedUsable: what was asked while a piece drained is taken only for
// the piece it was asked for, under the log key it was opened under, and
// only if the asking succeeded.
func TestAskedUsable(t *testing.T) {
	a := &asked{from: 8, vkey: "log+1+key"}
	for _, c := range []struct {
		name string
		err  error
		mine uint64
		vkey string
		want bool
	}{
		{"the piece asked for", nil, 8, "log+1+key", true},
		{"a failed question", errors.New("unavailable"), 8, "log+1+key", false},
		{"a node back at its file's size", nil, 6, "log+1+key", false},
		{"a node beyond it", nil, 10, "log+1+key", false},
		{"a log key changed since", nil, 8, "log+2+key", false},
	} {
		t.Run(c.name, func(t *testing.T) {
			a.err = c.err
			if got := a.usable(c.mine, c.vkey); got != c.want {
				t.Errorf("usable(%d, %q) with err %v = %v, want %v", c.mine, c.vkey, c.err, got, c.want)
			}
		})
	}
}
