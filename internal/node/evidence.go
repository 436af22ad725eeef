package node

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/mvm-exchange/mvm/client/mvmclient"
	"github.com/mvm-exchange/mvm/internal/entry"
	"github.com/mvm-exchange/mvm/internal/evidence"
	"github.com/mvm-exchange/mvm/internal/ledger"
	"github.com/mvm-exchange/mvm/internal/message"
	"github.com/mvm-exchange/mvm/internal/store"
	mvmv1 "github.com/mvm-exchange/mvm/proto/mvm/v1"
)

// EvidenceCopier copies every evidence file the node's verified log names
// from the primary into the node's own evidence store, so that a mediator
// holds the films and photos as well as the log, and `evidence get` from
// the node serves them.
//
// It reads only entries the follower has verified and stored, and asks
// the primary for each file an EvidenceSubmission names (as the node's
// identity, a mediator's, which may read every package). The node's store
// accepts a file only once all its bytes arrived and their SHA-256 is the
// logged digest (package evidence), so a primary that serves other bytes
// gets nothing stored: the copier logs it at ERROR level naming the entry
// and tries again at its next pass. An interrupted copy resumes from the
// offset the node's store holds. Files are bytes as stored: a sealed file
// is copied sealed; the node holds no key.
//
// At start it scans the node's log from the first entry (each stored file
// costs a Stat); memory holds the files not yet copied.
type EvidenceCopier struct {
	l      *ledger.Ledger
	store  evidence.Store
	client *mvmclient.Client
	log    *slog.Logger
	// scanned is the size of the log scanned for files; pending are the
	// files named there and not yet stored whole.
	scanned uint64
	pending []*wantedFile
	// pendingN is len(pending) as of the last scan or pass, for readers
	// on other goroutines (GetStatus, the metric).
	pendingN atomic.Int64
}

type wantedFile struct {
	index  uint64
	pkg    string
	d      evidence.Digest
	size   int64
	warned bool
}

// NewEvidenceCopier returns the copier of the node's ledger l into store,
// from the primary client c dials.
func NewEvidenceCopier(l *ledger.Ledger, s evidence.Store, c *mvmclient.Client, logger *slog.Logger) *EvidenceCopier {
	if logger == nil {
		logger = slog.Default()
	}
	return &EvidenceCopier{l: l, store: s, client: c, log: logger}
}

// Run copies until ctx ends, a pass every interval.
func (c *EvidenceCopier) Run(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if err := c.Pass(ctx); err != nil && ctx.Err() == nil {
			c.log.LogAttrs(ctx, slog.LevelWarn, "node: evidence copy pass failed", slog.String("err", err.Error()))
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Pending is the number of files named in the log scanned and not yet
// stored on the node, as of the last scan or pass; safe to call from any
// goroutine.
func (c *EvidenceCopier) Pending() int { return int(c.pendingN.Load()) }

// Pass scans the entries stored since the last pass and tries to copy
// every file not yet stored. Not safe for concurrent use.
func (c *EvidenceCopier) Pass(ctx context.Context) error {
	err := c.scan(ctx)
	c.pendingN.Store(int64(len(c.pending)))
	if err != nil {
		return err
	}
	left := c.pending[:0]
	for _, w := range c.pending {
		if ctx.Err() != nil {
			left = append(left, w)
			continue
		}
		if err := c.copyOne(ctx, w); err != nil {
			left = append(left, w)
			level := slog.LevelWarn
			if errors.Is(err, evidence.ErrDigestMismatch) || errors.Is(err, evidence.ErrTooLong) {
				level = slog.LevelError // the primary serves other bytes than logged
			} else if w.warned {
				continue // said once; retried quietly
			}
			w.warned = true
			c.log.LogAttrs(ctx, level, "node: evidence file not copied; retrying at the next pass",
				slog.Uint64("index", w.index), slog.String("package", w.pkg), slog.String("sha256", w.d.String()), slog.String("err", err.Error()))
		}
	}
	c.pending = left
	c.pendingN.Store(int64(len(left)))
	return nil
}

// evidenceType is the payload type of an evidence submission, as its
// envelope holds it.
var evidenceType = []byte(message.TypeEvidenceSubmission)

// scanBatch bounds the entries read in one read transaction.
const scanBatch = 4096

func (c *EvidenceCopier) scan(ctx context.Context) error {
	for c.scanned < c.l.Size() {
		err := c.l.ReadIndex(ctx, func(v store.View, h *ledger.Head) error {
			end := min(h.Size, c.scanned+scanBatch)
			v.Leaves(c.scanned, end, func(i uint64, leaf []byte) bool {
				if !bytes.Contains(leaf, evidenceType) {
					// Not an evidence submission: its envelope's payload
					// type, which the leaf holds verbatim, is another.
					// Opening every entry cost ~10% of a catch-up.
					return true
				}
				o, err := entry.Open(leaf)
				if err != nil {
					// The follower verified every stored entry: this does
					// not happen; skip rather than stop the copy.
					return true
				}
				es, ok := o.Payload.(*mvmv1.EvidenceSubmission)
				if !ok {
					return true
				}
				for _, f := range es.Files {
					d, err := evidence.ParseDigest(f.StoredSha256)
					if err != nil {
						continue
					}
					c.pending = append(c.pending, &wantedFile{index: i, pkg: es.PackageId, d: d, size: f.StoredSize})
				}
				return true
			})
			c.scanned = end
			return nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// copyOne stores w on the node, resuming what the node holds of it.
func (c *EvidenceCopier) copyOne(ctx context.Context, w *wantedFile) error {
	if size, err := c.store.Stat(ctx, w.d); err == nil {
		if size != w.size {
			return fmt.Errorf("the node holds %d bytes under this digest, the log names %d", size, w.size)
		}
		return nil
	}
	off, err := c.store.Offset(ctx, w.d, w.size)
	if errors.Is(err, evidence.ErrExists) {
		return nil
	}
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		_, err := c.client.DownloadEvidence(ctx, w.pkg, w.d[:], off, 0, pw)
		pw.CloseWithError(err)
		done <- err
	}()
	held, err := c.store.Write(ctx, w.d, w.size, off, pr)
	pr.CloseWithError(errors.New("the node's store stopped reading"))
	cancel()
	derr := <-done
	switch {
	case err != nil:
		return err
	case held != w.size:
		return fmt.Errorf("%d of %d bytes copied: %w", held, w.size, errors.Join(derr, io.ErrUnexpectedEOF))
	}
	c.log.LogAttrs(ctx, slog.LevelInfo, "node: evidence file copied and verified", slog.Uint64("index", w.index),
		slog.String("package", w.pkg), slog.String("sha256", w.d.String()), slog.Int64("size", w.size))
	return nil
}
