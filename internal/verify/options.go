package verify

import (
	"crypto/x509"
	"time"

	"github.com/mvm-exchange/mvm/internal/agreement"
	"github.com/mvm-exchange/mvm/internal/entry"
	"github.com/mvm-exchange/mvm/internal/tlog"
	"github.com/mvm-exchange/mvm/internal/workflow"
)

// Options tune a verifier. Those marked "fixed" must be the same when a
// saved state is resumed (Resume takes them from the caller).
type Options struct {
	// Genesis is the pinned genesis agreement envelope. Entry 0 must be
	// exactly these bytes: the party CAs every later check relies on come
	// from it, so they must come from the verifier's caller, not from the
	// source. Empty accepts any fully signed genesis (tests of the reducer
	// only).
	Genesis []byte
	// Certificate returns the DER certificate with the given SHA-256 (the
	// source's signer certificates). The verifier checks the digest.
	Certificate func(sha []byte) ([]byte, error)
	// Workers verifying signatures in parallel (default GOMAXPROCS).
	Workers int
	// SizeHint, if known, is the log size the verifier will reach; bounded
	// verifiers size their message-id index for it.
	SizeHint uint64
	// RootAt, if not zero, keeps the root of the tree of that size
	// ([Verifier.RootAt]), to compare with a checkpoint seen before.
	RootAt uint64
	// KeepHistory keeps each package's events and contents. Without it
	// packages are kept compact (workflow.Package.Compact), so memory
	// grows by a few hundred bytes per package, not per entry. Bounded
	// verifiers ignore it; a verifier that keeps history cannot be saved.
	KeepHistory bool
	// Bounded keeps the package states and message ids in temporary files
	// instead of the heap, so that memory grows by about 25-45 bytes per
	// entry (compact indexes) instead of hundreds per package: for logs of
	// millions of entries. [Report.Packages] and [Report.Breaches] are
	// then nil; PackageCount and BreachCount say how many.
	Bounded bool
	// TempDir is where a bounded verifier puts its files (default
	// os.TempDir()). They are unlinked at once where the system allows it,
	// and in any case removed by Close.
	TempDir string
	// BoundedCache is how many decoded package states a bounded verifier
	// keeps in memory (default 1,024).
	BoundedCache int
	// Final, if set, is called with every package's final state when a
	// bounded verifier reports (its states are not in the report).
	Final func(*workflow.Package)
	// CRLs are the parties' certificate revocation lists. Each must verify
	// against the CA of a party of an agreement of the log, or Finish
	// fails. An entry received at or after its signer's revocation time
	// fails; one received before it passes and is listed in
	// Report.SignedBeforeRevocation.
	CRLs []*x509.RevocationList
	// AgreementsOnly verifies what the agreement in force depends on, and
	// nothing else: every leaf's index, receive time order and hash (the
	// root is still recomputed from every leaf), and every agreement entry
	// in full. Other entries' signatures and the workflow are not checked.
	// A verifier run so cannot be saved (it has not checked what a full
	// one would resume from).
	AgreementsOnly bool
	// Visit, if set, is called with every entry in log order once its
	// place in the log is checked (and, but with AgreementsOnly, all of
	// it); an error ends the run. The entry is opened as far as it opens
	// (entry.Open): with AgreementsOnly, other entries' envelopes and
	// payloads are not required to.
	//
	// In keep-going mode (OnFault) it is called for faulty entries too,
	// after OnFault: o is nil if the leaf does not decode at all. It may
	// call [Verifier.Root], which is then the root of the entries up to
	// and including this one.
	Visit func(index uint64, o *entry.Opened) error
	// Members keeps, for every package, the indexes of its entries
	// ([Verifier.Members], Report.Members), saved with the state: a
	// client that resumes finds a package's entries without reading the
	// log again. With AgreementsOnly, every entry is opened for it.
	Members bool
	// OnFault, if set, makes the verifier keep going past failing
	// entries: each is reported here, in log order, and not applied (see
	// the package doc). A verifier that keeps going cannot be saved.
	OnFault func(*EntryError)
	// Node, if set, is called with every node of the tree as the leaves
	// complete it (tlog.Tree.Append's visitor): dbcheck compares each with
	// the node the file stores.
	Node func(id tlog.NodeID, hash []byte)
	// Reduced, if set, is called with every entry about a package once
	// the reducer accepted it (before Visit): the package's state before
	// it (nil for a new package) and after it, compact unless
	// KeepHistory, and then afterCompact, after.AppendCompact(nil) (nil
	// with KeepHistory). None is modified afterwards. The mediator node
	// hands them to its store (ledger.ReplicateVerified) instead of
	// running the reducer over each entry a second time, and stores
	// afterCompact as the state's record instead of encoding it again.
	Reduced func(index uint64, before, after *workflow.Package, afterCompact []byte)
}

// Report is what a verifier established once it is finished.
type Report struct {
	Entries   uint64
	Root      []byte
	Agreement *agreement.Agreement
	// Agreements is every agreement of the log, in log order (the genesis
	// first, Agreement last); see agreement.InForceAt.
	Agreements []*agreement.Agreement
	Packages   map[string]*workflow.Package // nil in bounded runs
	Breaches   []workflow.Breach            // nil in bounded runs
	// PackageCount and BreachCount count the packages and the breaches.
	PackageCount, BreachCount int
	LastTime                  time.Time
	RootAt                    []byte
	// SignedBeforeRevocation lists, in log order, the entries whose signer
	// certificate a CRL revokes, at a time after the entry was received.
	SignedBeforeRevocation []uint64
	// Faults counts the entries reported to Options.OnFault.
	Faults uint64
	// Members maps every package to the indexes of its entries (with
	// Options.Members; nil without).
	Members map[string][]uint64
}
