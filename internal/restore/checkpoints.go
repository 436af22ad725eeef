package restore

import (
	"bytes"
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/mvm-exchange/mvm/internal/agreement"
	"github.com/mvm-exchange/mvm/internal/store"
	"github.com/mvm-exchange/mvm/internal/tlog"
)

// The checkpoints restored: every one the source stores up to its latest
// (Source.Checkpoints, a page at a time, as the entries reach them), and
// the latest one it answers GetCheckpoint with. Each is opened under the
// log key before anything is done with it; each is stored only once the
// tree recomputed here from the verified entries has its root at its
// size, with the cosignature lines that verify under a key of the
// agreement in force at that size. A source that answers with a
// checkpoint of the log key that is not of this tree (a fork, or a lie
// with a stolen key) is refused, the checkpoint named.

// signed is a checkpoint opened under the log key: the log-signed note
// alone, its cosignature lines as the source gave them, and its size and
// root.
type signed struct {
	note  []byte
	lines []string
	size  uint64
	root  []byte
}

// open opens full, a checkpoint of the source with its cosignatures,
// under the log key; what names it in an error.
func (r *run) open(full []byte, what string) (*signed, error) {
	cp, n, err := tlog.OpenCheckpoint(full, r.origin, r.logKey)
	if err != nil {
		return nil, fmt.Errorf("the source's %s%s: %w", what, sizeOf(full), err)
	}
	logOnly, err := tlog.Verified(n)
	if err != nil {
		return nil, err
	}
	s := &signed{note: logOnly, size: cp.Size, root: cp.Hash}
	for _, sig := range n.UnverifiedSigs {
		s.lines = append(s.lines, "— "+sig.Name+" "+sig.Base64+"\n")
	}
	return s, nil
}

// sizeOf names the size a checkpoint that did not open claims, if its
// text says one.
func sizeOf(full []byte) string {
	lines := strings.SplitN(string(full), "\n", 3)
	if len(lines) < 3 {
		return ""
	}
	if n, err := strconv.ParseUint(lines[1], 10, 64); err == nil {
		return " of size " + strconv.FormatUint(n, 10)
	}
	return ""
}

// cursor walks the source's checkpoints by size up to latest's, a page at
// a time: only a page is held. latest is yielded at its size, unless the
// source lists a checkpoint of that size itself (both are checked against
// the tree all the same).
type cursor struct {
	r      *run
	ctx    context.Context
	latest *signed
	page   []*signed
	after  uint64 // the size of the last checkpoint fetched
	done   bool   // the source has listed every one
}

// peek returns the next checkpoint, nil past the latest.
func (c *cursor) peek() (*signed, error) {
	for len(c.page) == 0 && !c.done {
		if err := c.fetch(); err != nil {
			return nil, err
		}
	}
	if len(c.page) == 0 {
		return nil, nil
	}
	return c.page[0], nil
}

// pop drops the checkpoint peek returned.
func (c *cursor) pop() { c.page = c.page[1:] }

func (c *cursor) fetch() error {
	fulls, more, err := c.r.o.Source.Checkpoints(c.ctx, c.after, c.latest.size)
	if err != nil {
		return fmt.Errorf("the source's checkpoints after size %d: %w", c.after, err)
	}
	if more && len(fulls) == 0 {
		return fmt.Errorf("the source listed no checkpoint after size %d, and says more follow", c.after)
	}
	for _, full := range fulls {
		s, err := c.r.open(full, "checkpoint")
		if err != nil {
			return err
		}
		if s.size <= c.after || s.size > c.latest.size {
			return fmt.Errorf("the source listed its checkpoint of size %d after size %d, up to %d: out of order", s.size, c.after, c.latest.size)
		}
		c.page = append(c.page, s)
		c.after = s.size
	}
	if !more {
		c.done = true
		if c.after < c.latest.size {
			c.page = append(c.page, c.latest)
			c.after = c.latest.size
		}
	}
	return nil
}

// checkpointsAt checks the checkpoints of the tree's size (the listed one,
// and the latest) against its root, and returns them to store with their
// cosignatures under ag, the agreement in force at that size. They are
// popped.
func (r *run) checkpointsAt(c *cursor, tree *tlog.Tree, ag func(size uint64) *agreement.Agreement, rep *Report) ([]store.StoredCheckpoint, error) {
	var out []store.StoredCheckpoint
	for {
		cp, err := c.peek()
		if err != nil || cp == nil || cp.size != tree.Size() {
			return out, err
		}
		c.pop()
		root, err := tree.Root()
		if err != nil {
			return nil, err
		}
		for _, s := range []*signed{cp, c.latest} {
			if s.size == cp.size && !bytes.Equal(s.root, root) {
				return nil, fmt.Errorf("the source's checkpoint of size %d (root %x) is not consistent with the entries it served: they hash to root %x at that size; refused (a fork of the log, or a source that lies)",
					s.size, s.root, root)
			}
		}
		out = append(out, r.cosigned(cp, ag(cp.size), rep))
	}
}

// cosigned is cp with each of its cosignature lines that verifies under
// a mediator cosigner key or a witness key of ag, by its key's name (as
// the primary stores them); the others are dropped and counted.
func (r *run) cosigned(cp *signed, ag *agreement.Agreement, rep *Report) store.StoredCheckpoint {
	out := store.StoredCheckpoint{Size: cp.size, Note: cp.note}
	var keys []string
	if ag != nil {
		for _, ks := range ag.CosignerKeys() {
			keys = append(keys, ks...)
		}
		for _, w := range ag.Witnesses {
			keys = append(keys, w.Key)
		}
	}
	for _, line := range cp.lines {
		stored := false
		for _, k := range keys {
			name, _, _ := strings.Cut(k, "+")
			if !strings.HasPrefix(line, "— "+name+" ") {
				continue
			}
			if _, err := tlog.VerifyCosignature(cp.note, line, k); err != nil {
				continue
			}
			out.Cosignatures = append(out.Cosignatures, store.Cosignature{Cosigner: name, Line: line})
			stored = true
			break
		}
		if stored {
			rep.Cosignatures++
			continue
		}
		rep.Dropped++
		r.o.Logger.Warn("cosignature dropped: no key of the agreement verifies it", "size", cp.size, "line", strings.TrimSpace(line))
	}
	if ag != nil && len(out.Cosignatures) >= ag.WitnessQuorum && ag.WitnessQuorum > 0 {
		// Counted as every client counts (the lines verified above).
		full, err := tlog.AddCosignatures(cp.note, out.Lines())
		if err == nil {
			if n, err := ag.CountWitnesses(full, r.origin, r.logKey); err == nil && ag.Witnessed(n) {
				rep.Witnessed = max(rep.Witnessed, cp.size)
			}
		}
	}
	rep.Checkpoints++
	return out
}
