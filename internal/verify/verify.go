// Package verify is the one incremental verifier of the log. Fed leaves in
// log order, from any source (a server's stream, an audit bundle, a
// database file), a [Verifier] checks each as it comes and remembers only
// what the checks of later entries need; it can save that to bytes and
// resume from them.
//
// # What it guarantees
//
// For every leaf pushed ([Verifier.Push]), in order, it checks: the leaf
// opens (entry.Open) and claims the next index; its receive time does not
// go backwards and is within the agreement's clock skew of the time its
// author signed, or held at the previous entry's (entry.CheckReceived,
// the rule the server's writer follows); the envelope is signed by the key
// of the certificate the entry names (whose SHA-256 must match); that
// certificate chains to the CA of its own party under the agreement in
// force, at the entry's receive time, and was not revoked by then
// according to the CRLs given (Options.CRLs); no author reused a message
// id; and the workflow reducer (workflow.Apply, the code the server runs)
// accepts the entry. Entry 0 must be the pinned genesis (Options.Genesis)
// and every agreement entry is signed by every party under the agreement
// before it and by its submitter (workflow.Amend).
//
// It keeps the right edge of the Merkle tree over the exact leaf bytes
// (one hash per level), so it knows the root at its size and checks a
// checkpoint against it ([Verifier.CheckCheckpoint]); a checkpoint of a
// size not reached yet is checked when the tree reaches it
// ([Verifier.ExpectRoot]): a log that forks from what a checkpoint
// committed to fails at that size.
//
// The first failure is returned as an [*EntryError] naming the entry; the
// verifier is then spent (every later call returns that error).
//
// # Keep-going mode
//
// With Options.OnFault set (server --verify-db, which lists every damage
// of a database file), a failing entry is reported to it instead, as an
// [*EntryError], and not applied: no reducer step, no agreement, and its
// receive time is not the one the next entry must follow. Its leaf is
// still hashed into the tree (the tree is of the leaves stored, so stored
// nodes and checkpoints are checked against what is there), and the run
// goes on with the next entry, which is checked against the state before
// the faulty one. Consequences follow: an acknowledgement of a package
// whose first entry failed is refused too, and named. A genesis that
// fails (a bad signature, say) is reported once, and the entries after it
// are checked under the agreement as it reads. Only failures outside the
// entries (a temporary file failing, Options.Visit returning an error)
// end a keep-going run.
//
// # Memory and state
//
// What it remembers: the tree's edge, the agreements, one state per
// package and one 128-bit digest per message id; the states are in the
// heap, or with Options.Bounded in temporary files with only compact
// indexes in memory (package spill). [Verifier.Save] writes all of it,
// versioned and check-summed, and [Resume] reads it back (streaming into
// the same bounded structures): verifying n entries, saving, resuming and
// verifying the rest gives what verifying all at once gives. A saved
// state is no signature: whoever holds it can forge one, so a caller
// keeps it where it keeps its own trust anchors, and checks that a
// resumed verifier's root is the root of a checkpoint it verified.
//
// # Speed
//
// Signature and chain checks run in parallel (Options.Workers, batch
// verification: [VerifyParallel]); the rest runs in log order, overlapped
// with the verification of the next chunk.
//
// # Who feeds it
//
// audit.Run (the client's audit of a server or a bundle, and
// audit.VerifyLog, which every client command that believes the log
// runs, resuming a saved state where the command keeps one), dbcheck
// (server --verify-db, over the database file, in keep-going mode), and
// the mediator node (from the primary's stream).
package verify

import (
	"bytes"
	"crypto/sha256"
	"crypto/x509"
	"errors"
	"fmt"
	"runtime"
	"time"

	"github.com/mvm-exchange/mvm/internal/agreement"
	"github.com/mvm-exchange/mvm/internal/entry"
	"github.com/mvm-exchange/mvm/internal/tlog"
)

// EntryError is a failed check, naming the entry.
type EntryError struct {
	Index uint64
	Err   error
}

func (e *EntryError) Error() string { return fmt.Sprintf("entry %d: %v", e.Index, e.Err) }
func (e *EntryError) Unwrap() error { return e.Err }

// Verifier verifies a log fed to it in order. It is not safe for
// concurrent use.
type Verifier struct {
	o        Options
	next     uint64 // entries applied
	lastTime time.Time
	ag       *agreement.Agreement
	history  []*agreement.Agreement
	// agreementLeaves are the leaves of history, for Save.
	agreementLeaves [][]byte
	certs           map[string]*entry.Peer // by SHA-256
	states          states
	tree            *tlog.Tree
	rootAtV         []byte
	expect          map[uint64][]byte
	rev             *revocations
	p               pipeline
	faults          uint64 // entries reported to Options.OnFault
	members         map[string][]uint64
	// err is the first failure: the verifier is spent.
	err error
}

// New returns a verifier of a log from its first entry.
func New(o Options) (*Verifier, error) {
	v := newVerifier(o)
	if err := v.openStates(); err != nil {
		return nil, err
	}
	v.tree, _ = tlog.NewTree(0, nil)
	return v, nil
}

func newVerifier(o Options) *Verifier {
	if o.Workers <= 0 {
		o.Workers = runtime.GOMAXPROCS(0)
	}
	if o.BoundedCache <= 0 {
		o.BoundedCache = 1 << 10
	}
	if o.Bounded {
		o.KeepHistory = false
	}
	v := &Verifier{o: o, certs: map[string]*entry.Peer{}, rev: newRevocations(o.CRLs), expect: map[uint64][]byte{}}
	if o.Members {
		v.members = map[string][]uint64{}
	}
	v.p.v = v
	return v
}

func (v *Verifier) openStates() error {
	if !v.o.Bounded {
		v.states = newMemStates()
		return nil
	}
	st, err := newSpillStates(v.o.TempDir, v.o.SizeHint, v.o.BoundedCache, v.o.Final)
	if err != nil {
		return err
	}
	v.states = st
	return nil
}

// chunk is how many leaves are verified together.
const chunk = 1024

// Push verifies leaves, the next entries of the log in order. The checks
// of the last chunk may still be running when it returns: [Verifier.Flush]
// waits for them. The verifier holds on to the leaves until they are
// applied, so the caller must not reuse their memory.
func (v *Verifier) Push(leaves ...[]byte) error {
	if v.err != nil {
		return v.err
	}
	for len(leaves) > 0 {
		n := min(len(leaves), chunk)
		if err := v.p.push(leaves[:n]); err != nil {
			return v.fail(err)
		}
		leaves = leaves[n:]
	}
	return nil
}

// Flush waits until every leaf pushed is verified and applied.
func (v *Verifier) Flush() error {
	if v.err != nil {
		return v.err
	}
	if err := v.p.drain(); err != nil {
		return v.fail(err)
	}
	return nil
}

func (v *Verifier) fail(err error) error {
	v.p.abandon()
	v.err = err
	return err
}

// Size is how many entries are verified and applied (after Flush: every
// one pushed).
func (v *Verifier) Size() uint64 { return v.next }

// Root is the Merkle root of the entries applied.
func (v *Verifier) Root() ([]byte, error) { return v.tree.Root() }

// RootAt is the root at Options.RootAt entries, once reached.
func (v *Verifier) RootAt() []byte { return v.rootAtV }

// Agreement is the agreement in force after the entries applied.
func (v *Verifier) Agreement() *agreement.Agreement { return v.ag }

// Agreements is every agreement applied, in log order.
func (v *Verifier) Agreements() []*agreement.Agreement { return v.history }

// LastTime is the receive time of the last entry applied.
func (v *Verifier) LastTime() time.Time { return v.lastTime }

// ErrForked means the entries hash to another root than a checkpoint of
// their size: the log is not the one the checkpoint committed to.
var ErrForked = errors.New("the entries hash to another root than the checkpoint's")

// CheckCheckpoint checks, after Flush, that the entries applied hash to
// the root of cp, a checkpoint of the same size.
func (v *Verifier) CheckCheckpoint(cp *tlog.Checkpoint) error {
	if cp.Size != v.next {
		return fmt.Errorf("checkpoint of size %d, the verifier is at %d entries", cp.Size, v.next)
	}
	root, err := v.tree.Root()
	if err != nil {
		return err
	}
	if !bytes.Equal(root, cp.Hash) {
		return fmt.Errorf("%w (size %d)", ErrForked, cp.Size)
	}
	return nil
}

// ExpectRoot makes the verifier fail at size entries unless they hash to
// root: a checkpoint of a size not reached yet. A size already passed is
// refused (check it with a consistency proof instead).
func (v *Verifier) ExpectRoot(size uint64, root []byte) error {
	switch {
	case size < v.next+uint64(v.p.queued()):
		return fmt.Errorf("a root at size %d: the verifier is past it", size)
	case size == 0:
		return nil
	}
	v.expect[size] = bytes.Clone(root)
	return nil
}

// Finish ends the verification: every CRL given must have verified
// against a party's CA. It reports the packages and breaches as of asOf
// (the last entry's receive time if zero), and closes the verifier.
func (v *Verifier) Finish(asOf time.Time) (*Report, error) {
	defer v.Close()
	if err := v.Flush(); err != nil {
		return nil, err
	}
	if err := v.rev.finish(); err != nil {
		return nil, err
	}
	root, err := v.tree.Root()
	if err != nil {
		return nil, err
	}
	if asOf.IsZero() {
		asOf = v.lastTime
	}
	rep := &Report{Entries: v.next, Root: root, Agreement: v.ag, Agreements: v.history, LastTime: v.lastTime,
		RootAt: v.rootAtV, SignedBeforeRevocation: v.rev.before, Faults: v.faults, Members: v.members}
	if err := v.states.report(rep, asOf); err != nil {
		return nil, err
	}
	return rep, v.Close()
}

// Close releases the verifier's files; it may be called more than once.
func (v *Verifier) Close() error {
	v.p.abandon()
	if v.states == nil {
		return nil
	}
	err := v.states.close()
	v.states = nil
	if v.err == nil {
		v.err = errors.New("verifier closed")
	}
	return err
}

func (v *Verifier) certificate(sha []byte) (*entry.Peer, error) {
	if c, ok := v.certs[string(sha)]; ok {
		return c, nil
	}
	if v.o.Certificate == nil {
		return nil, fmt.Errorf("signer certificate %x: no source of certificates", sha)
	}
	der, err := v.o.Certificate(sha)
	if err != nil {
		return nil, fmt.Errorf("signer certificate %x: %w", sha, err)
	}
	if got := sha256.Sum256(der); !bytes.Equal(got[:], sha) {
		return nil, fmt.Errorf("certificate served for %x has SHA-256 %x", sha, got)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	p := entry.NewPeer(c)
	v.certs[string(sha)] = p
	return p, nil
}
