// Package audit re-derives everything from the raw log, trusting nothing
// the server says about it.
//
// [Run] streams the entries of a log from a [Source] (a server or a
// bundle) into the incremental verifier (package verify), which checks
// each entry in order (its signature, its certificate under the
// agreement in force and the CRLs at its receive time, its clock, its
// message id, the workflow reducer) and recomputes the Merkle root over
// the exact leaf bytes; see that package for what exactly is guaranteed.
// What the audit remembers is one state per package and one digest per
// message id: in the heap, or, with Options.Bounded, in temporary files
// with only compact indexes in memory (package spill).
//
// [VerifyLog] wraps Run in what a client must check before it believes a
// log: the checkpoint under the pinned log key, consistency with the
// checkpoint verified before, and the root. Options.AgreementsOnly makes it
// cheap enough for commands that need only the agreement in force.
package audit

import (
	"context"
	"crypto/x509"
	"fmt"
	"io"
	"time"

	"github.com/mvm-exchange/mvm/internal/entry"
	"github.com/mvm-exchange/mvm/internal/verify"
	"github.com/mvm-exchange/mvm/internal/workflow"
)

// Source is where the auditor reads the log: a server or a bundle file.
type Source interface {
	// Entries calls fn for every leaf in [start, end), in order. Each
	// leaf is fn's to keep: memory the source neither reuses nor changes
	// afterwards (the auditor holds leaves until they are verified, and
	// agreement leaves to the end, without copying them).
	Entries(ctx context.Context, start, end uint64, fn func(index uint64, leaf []byte) error) error
	// Certificate returns the DER certificate with the given SHA-256.
	Certificate(ctx context.Context, sha []byte) ([]byte, error)
}

// EntryError is a failed check, naming the entry.
type EntryError = verify.EntryError

// Options tune a run.
type Options struct {
	// Genesis is the pinned genesis agreement envelope. Entry 0 must be
	// exactly these bytes: the party CAs every later check relies on come
	// from it, so they must come from the auditor, not from the source.
	// Empty accepts any fully signed genesis (tests of the reducer only).
	Genesis []byte
	// Workers verifying signatures in parallel (default GOMAXPROCS).
	Workers int
	// Progress, if set, is called after each chunk with entries verified.
	Progress func(verified, total uint64)
	// AsOf for the breach count (default: the last entry's receive time).
	AsOf time.Time
	// RootAt, if not zero, asks for the root of the tree of that size too,
	// to compare with a checkpoint seen before (Report.RootAt).
	RootAt uint64
	// KeepHistory keeps each package's events and contents in the report.
	// Without it packages are kept compact (workflow.Package.Compact), so
	// memory grows by a few hundred bytes per package, not per entry.
	// Bounded runs ignore it.
	KeepHistory bool
	// Bounded keeps the package states and message ids in temporary files
	// instead of the heap, so that memory grows by about 25-45 bytes per
	// entry (compact indexes) instead of hundreds per package: for logs of
	// millions of entries. Report.Packages and Report.Breaches are then
	// nil; Report.PackageCount and Report.BreachCount say how many.
	Bounded bool
	// TempDir is where a bounded run puts its files (default
	// os.TempDir()). They are unlinked at once where the system allows it,
	// and in any case removed before Run returns.
	TempDir string
	// CRLs are the parties' certificate revocation lists. Each must verify
	// against the CA of a party of an agreement of the log, or the audit
	// fails. An entry received at or after its signer's revocation time
	// fails the audit; one received before it passes and is listed in
	// Report.SignedBeforeRevocation.
	CRLs []*x509.RevocationList
	// AgreementsOnly verifies what the agreement in force depends on, and
	// nothing else: every leaf's index, receive time order and hash (the
	// root is still recomputed from every leaf), and every agreement entry
	// in full (the pinned genesis, each amendment's signatures by every
	// party under the agreement before it, its submitter). Other entries'
	// signatures and the workflow are not checked. Clients use it to derive
	// the agreement in force from the log rather than from the server's
	// word, at the cost of hashing the log.
	AgreementsOnly bool
	// Visit, if set, is called with every entry in log order once its
	// place in the log is checked (and, but with AgreementsOnly, all of
	// it); an error ends the run. The entry is opened as far as it opens
	// (with AgreementsOnly, other entries need not). show uses it to find
	// every entry of a package, so that the server cannot withhold one.
	//
	// With Saved, it sees only the entries after the saved state.
	Visit func(index uint64, o *entry.Opened) error
	// Members keeps, for every package, the indexes of its entries
	// (Report.Members; verify.Options.Members), in the saved state too.
	Members bool
	// Saved, if set, is the verifier state a client keeps between runs:
	// the run resumes from it (verify.Resume, which refuses a damaged,
	// edited or foreign state with verify.ErrState), verifies only the
	// entries after it, and stores the new state once every entry is
	// verified and, in VerifyLog, hashes to the signed checkpoint's root.
	Saved SavedState
}

// SavedState is where a client keeps its verifier's state (Options.Saved).
// The state is no signature: whoever can write it can forge one, so it is
// kept where the client keeps its trust anchors.
type SavedState interface {
	// Load returns the saved state, nil if there is none yet.
	Load() (io.ReadCloser, error)
	// Store keeps the state save writes, whole or not at all.
	Store(save func(io.Writer) error) error
}

// Report is what a successful audit established.
type Report = verify.Report

// boundedCache is how many package states a bounded audit keeps decoded
// in memory; tests make it small, to spill nearly everything, and set
// boundedSeen to see every final state.
var (
	boundedCache = 1 << 10
	boundedSeen  func(*workflow.Package)
)

const chunk = 1024

// Run audits entries [0, size) from src (with Options.Saved, those after
// the saved state).
func Run(ctx context.Context, src Source, size uint64, o Options) (*Report, error) {
	rep, _, err := run(ctx, src, size, nil, o)
	return rep, err
}

// run is Run; if root is not nil, the entries must hash to it, and only
// then is the state saved. It returns the size the run resumed from.
func run(ctx context.Context, src Source, size uint64, root []byte, o Options) (*Report, uint64, error) {
	vo := verify.Options{Genesis: o.Genesis, Workers: o.Workers, SizeHint: size, RootAt: o.RootAt,
		KeepHistory: o.KeepHistory, Bounded: o.Bounded, TempDir: o.TempDir, BoundedCache: boundedCache, Final: boundedSeen,
		CRLs: o.CRLs, AgreementsOnly: o.AgreementsOnly, Visit: o.Visit, Members: o.Members,
		Certificate: func(sha []byte) ([]byte, error) { return src.Certificate(ctx, sha) }}
	v, err := open(vo, o.Saved)
	if err != nil {
		return nil, 0, err
	}
	defer v.Close()
	start := v.Size()
	if err := expect(v, start, size, root); err != nil {
		return nil, start, err
	}
	// A checkpoint seen before at the very size resumed from: its root is
	// the resumed tree's (one below it is past; VerifyLog sees to that).
	var rootAtStart []byte
	if o.RootAt == start && start > 0 {
		if rootAtStart, err = v.Root(); err != nil {
			return nil, start, err
		}
	}
	var leaves [][]byte
	flush := func() error {
		err := v.Push(leaves...)
		leaves = nil
		if err == nil && o.Progress != nil {
			o.Progress(v.Size(), size)
		}
		return err
	}
	err = src.Entries(ctx, start, size, func(i uint64, leaf []byte) error {
		leaves = append(leaves, leaf) // the source's to give (Source)
		if len(leaves) == chunk {
			return flush()
		}
		return nil
	})
	if err == nil && len(leaves) > 0 {
		err = flush()
	}
	if err == nil {
		err = v.Flush()
	}
	if err != nil {
		return nil, start, err
	}
	if v.Size() != size {
		return nil, start, fmt.Errorf("log ends at %d entries, expected %d", v.Size(), size)
	}
	if root != nil {
		// Before the state is kept: a state is only ever of a log that
		// hashes to a signed checkpoint.
		if err := checkRoot(v, root); err != nil {
			return nil, start, err
		}
	}
	if o.Saved != nil && v.Size() > start {
		// (A state that did not move is not written again.)
		if err := o.Saved.Store(v.Save); err != nil {
			return nil, start, fmt.Errorf("keeping the verifier state: %w", err)
		}
	}
	rep, err := v.Finish(o.AsOf)
	if err == nil && o.RootAt == start && start > 0 {
		rep.RootAt = rootAtStart
	}
	return rep, start, err
}
