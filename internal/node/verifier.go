package node

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/mvm-exchange/mvm/internal/atomicfile"
	"github.com/mvm-exchange/mvm/internal/entry"
	"github.com/mvm-exchange/mvm/internal/ledger"
	"github.com/mvm-exchange/mvm/internal/tlog"
	"github.com/mvm-exchange/mvm/internal/verify"
	"github.com/mvm-exchange/mvm/internal/workflow"
	mvmv1 "github.com/mvm-exchange/mvm/proto/mvm/v1"
)

// pendingPiece is what the verifier passed of the piece being copied: the
// entries, opened, and the certificates fetched from the primary for them.
type pendingPiece struct {
	mu      sync.Mutex
	entries []ledger.Verified
	certs   map[string][]byte
	// collect: Visit keeps the entries (off while the verifier is rebuilt
	// over the node's own file).
	collect bool
	// What the verifier computed of the entry it is placing, handed to
	// the store with it (Options.Node, Options.Reduced, then Visit, in
	// that order, on the verifier's goroutine): its leaf hash, and the
	// package states around it.
	leafHash       []byte
	reducedAt      uint64
	before, after  *workflow.Package
	afterCompact   []byte
	reducedPending bool
}

func (p *pendingPiece) reset() {
	p.mu.Lock()
	p.entries, p.certs = nil, map[string][]byte{}
	p.mu.Unlock()
}

// take hands over the entries and certificates collected, and resets.
func (p *pendingPiece) take() ([]ledger.Verified, map[string][]byte) {
	p.mu.Lock()
	defer p.mu.Unlock()
	entries, certs := p.entries, p.certs
	p.entries, p.certs = nil, map[string][]byte{}
	return entries, certs
}

// options are the verifier's: the pinned genesis and CRLs, certificates
// from the node's file, then from the piece's, then from the primary.
func (f *Follower) options() verify.Options {
	return verify.Options{
		Genesis: f.cfg.Genesis,
		CRLs:    f.cfg.CRLs,
		// Bounded: the package states and message ids in temporary files, as
		// the auditor keeps them: the heap stays at the pieces in flight
		// whatever the log size (in the heap they grew by hundreds of bytes
		// a package, past the server's GOMEMLIMIT, and the collector ran
		// nearly all the time).
		Bounded: true,
		Certificate: func(sha []byte) ([]byte, error) {
			if der, err := f.l.Store().Certificate(sha); err == nil {
				return der, nil
			}
			p := &f.pending
			p.mu.Lock()
			der, ok := p.certs[string(sha)]
			p.mu.Unlock()
			if ok {
				return der, nil
			}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			resp, err := f.client.API.GetCertificates(ctx, &mvmv1.GetCertificatesRequest{Sha256: [][]byte{sha}})
			if err != nil {
				f.certErr = err
				return nil, fmt.Errorf("from the primary: %w", err)
			}
			if len(resp.Certificates) != 1 {
				return nil, fmt.Errorf("the primary answered %d certificates for one", len(resp.Certificates))
			}
			der = resp.Certificates[0]
			p.mu.Lock()
			if p.certs == nil {
				p.certs = map[string][]byte{}
			}
			p.certs[string(sha)] = der // the verifier checks its SHA-256
			p.mu.Unlock()
			return der, nil
		},
		Node: func(id tlog.NodeID, hash []byte) {
			if id.Level == 0 {
				f.pending.leafHash = hash // the tree keeps it unmodified
			}
		},
		Reduced: func(index uint64, before, after *workflow.Package, afterCompact []byte) {
			p := &f.pending
			p.reducedAt, p.before, p.after, p.afterCompact, p.reducedPending = index, before, after, afterCompact, true
		},
		Visit: func(index uint64, o *entry.Opened) error {
			p := &f.pending
			leafHash := p.leafHash
			before, after, afterCompact := p.before, p.after, p.afterCompact
			if !p.reducedPending || p.reducedAt != index {
				before, after, afterCompact = nil, nil, nil // an agreement, or about no package
			}
			p.leafHash, p.before, p.after, p.afterCompact, p.reducedPending = nil, nil, nil, nil, false
			if p.collect {
				// What the store needs of it (ledger.ReplicateVerified):
				// the leaf, its decoded payload and the entry's fields,
				// and what the verifier computed; the envelope's decoded
				// copies are left to the collector.
				e := o.Entry
				p.entries = append(p.entries, ledger.Verified{
					Opened: &entry.Opened{Leaf: o.Leaf, Type: o.Type, Payload: o.Payload,
						Entry: &mvmv1.Entry{Index: e.Index, ReceivedAt: e.ReceivedAt, PeerCertificateSha256: e.PeerCertificateSha256}},
					LeafHash: leafHash, Before: before, After: after, AfterCompact: afterCompact})
			}
			return nil
		},
	}
}

// rebuild makes the verifier stand at the ledger's size: resumed from the
// saved state when there is one that the file extends, else from entry 0,
// fed the node's own entries. Its root must be the stored tree's.
func (f *Follower) rebuild() error {
	size := f.l.Size()
	t0 := time.Now()
	v, from := f.resume(size)
	if v == nil {
		var err error
		if v, err = verify.New(f.options()); err != nil {
			return fmt.Errorf("node: verifier: %w", err)
		}
	}
	f.pending.collect = false
	var err error
	if size > from {
		// The file's latest checkpoint (the file may hold verified
		// entries beyond it: ledger.Replicate without one).
		err = f.expectRoot(v)
	}
	b := batcher{push: v.Push, first: from}
	if err == nil {
		err = f.l.Store().Leaves(from, size, func(_ uint64, leaf []byte) error {
			return b.add([][]byte{bytes.Clone(leaf)})
		})
	}
	if err == nil {
		err = b.flush()
	}
	if err == nil {
		err = v.Flush()
	}
	f.pending.collect = true
	if err != nil {
		v.Close()
		return fmt.Errorf("node: verifying the node's own file again: %w (check it with `server --verify-db`)", err)
	}
	f.v = v
	f.cfg.Logger.Info("node: verifier ready", "size", size, "resumed_at", from, "took", time.Since(t0))
	return nil
}

// expectRoot makes v check, on its way, the root of the latest
// checkpoint stored, when v is not past it.
func (f *Follower) expectRoot(v *verify.Verifier) error {
	_, raw, err := f.l.Store().LatestCheckpoint()
	if err != nil {
		return err
	}
	key, err := f.logKey()
	if err != nil {
		return err
	}
	cp, _, err := tlog.OpenCheckpoint(raw, f.l.Origin(), key)
	if err != nil {
		return err
	}
	if cp.Size < v.Size() {
		return nil // a resumed state past it: checked against the file's tree (resume)
	}
	if cp.Size == v.Size() {
		return v.CheckCheckpoint(cp)
	}
	return v.ExpectRoot(cp.Size, cp.Hash)
}

// resume returns the verifier resumed from the saved state and the size it
// stands at, or nil, 0 when there is no usable state (it is removed: a
// state is good for one start).
func (f *Follower) resume(size uint64) (*verify.Verifier, uint64) {
	if f.cfg.StateFile == "" {
		return nil, 0
	}
	fh, err := os.Open(f.cfg.StateFile)
	if err != nil {
		return nil, 0
	}
	defer func() {
		fh.Close()
		_ = os.Remove(f.cfg.StateFile)
	}()
	v, err := verify.Resume(fh, f.options())
	if err != nil {
		f.cfg.Logger.Warn("node: saved verifier state refused; verifying the file from its start", "err", err)
		return nil, 0
	}
	if v.Size() > size {
		v.Close()
		f.cfg.Logger.Warn("node: saved verifier state is ahead of the file; verifying the file from its start", "state", v.Size(), "size", size)
		return nil, 0
	}
	if v.Size() > 0 {
		// The state is the node's own, kept beside its file; still, it
		// must stand on the tree the file holds.
		root, err := v.Root()
		if err == nil {
			var t *tlog.Tree
			if t, err = tlog.NewTree(v.Size(), f.l.Store()); err == nil {
				var want []byte
				if want, err = t.Root(); err == nil && !bytes.Equal(root, want) {
					err = errors.New("its root is not the file's")
				}
			}
		}
		if err != nil {
			v.Close()
			f.cfg.Logger.Warn("node: saved verifier state does not match the file; verifying the file from its start", "err", err)
			return nil, 0
		}
	}
	return v, v.Size()
}

// saveState writes the verifier's state for the next start, straight
// into the file (Save buffers its writes): held whole in memory first,
// the state of a large log was copied over and over as the buffer grew
// (more than half of the CPU of saving at 200k entries).
func (f *Follower) saveState() error {
	if f.cfg.StateFile == "" {
		return nil
	}
	o, err := atomicfile.Create(f.cfg.StateFile)
	if err != nil {
		return fmt.Errorf("node: saving the verifier's state: %w", err)
	}
	defer o.Abort()
	if err := f.v.Save(o); err != nil {
		return fmt.Errorf("node: saving the verifier's state: %w", err)
	}
	return o.Commit()
}
