// Package audit re-derives everything from the raw log, trusting nothing
// the server says about it.
//
// For every entry, in order, [Run] checks: the index is the next one; the
// receive time does not go backwards and is within the agreement's clock
// skew of the time its author signed, or held at the previous entry's
// (entry.CheckReceived, the rule the server's writer follows); the
// envelope is signed by the key of the certificate the entry names (whose
// SHA-256 must match); that certificate chains to the CA of its own party
// under the agreement in force, at the entry's receive time, and was not
// revoked by then according to the CRLs given (Options.CRLs); the payload is valid; no author reused
// a message id; and the workflow reducer, the same code the server runs,
// accepts the entry. It then recomputes the Merkle root over the exact leaf
// bytes and checks that the log's signed checkpoint commits to it.
//
// Signature and chain checks run in parallel across cores; the reducer runs
// in log order. The entries are streamed. What the audit remembers is one
// state per package and one digest per message id: in the heap, or, with
// Options.Bounded, in temporary files with only compact indexes in memory
// (package spill).
//
// [VerifyLog] wraps Run in what a client must check before it believes a
// log: the checkpoint under the pinned log key, consistency with the
// checkpoint verified before, and the root. Options.AgreementsOnly makes it
// cheap enough for commands that need only the agreement in force.
package audit

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/x509"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"time"

	"github.com/mvm-exchange/mvm/internal/agreement"
	"github.com/mvm-exchange/mvm/internal/entry"
	"github.com/mvm-exchange/mvm/internal/envelope"
	"github.com/mvm-exchange/mvm/internal/message"
	"github.com/mvm-exchange/mvm/internal/tlog"
	"github.com/mvm-exchange/mvm/internal/workflow"
	mvmv1 "github.com/mvm-exchange/mvm/proto/mvm/v1"
)

// Source is where the auditor reads the log: a server or a bundle file.
type Source interface {
	// Entries calls fn for every leaf in [start, end), in order.
	Entries(ctx context.Context, start, end uint64, fn func(index uint64, leaf []byte) error) error
	// Certificate returns the DER certificate with the given SHA-256.
	Certificate(ctx context.Context, sha []byte) ([]byte, error)
}

// EntryError is a failed check, naming the entry.
type EntryError struct {
	Index uint64
	Err   error
}

func (e *EntryError) Error() string { return fmt.Sprintf("entry %d: %v", e.Index, e.Err) }
func (e *EntryError) Unwrap() error { return e.Err }

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
	// it); an error ends the run. show uses it to find every entry of a
	// package, so that the server cannot withhold one.
	Visit func(index uint64, e *mvmv1.Entry) error
}

// Report is what a successful audit established.
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
}

const chunk = 1024

// Run audits entries [0, size) from src.
func Run(ctx context.Context, src Source, size uint64, o Options) (*Report, error) {
	if o.Workers <= 0 {
		o.Workers = runtime.GOMAXPROCS(0)
	}
	a := &auditor{src: src, ctx: ctx, rootAt: o.RootAt, keepHistory: o.KeepHistory, genesis: o.Genesis, certs: map[string]*x509.Certificate{},
		workers: o.Workers, rev: newRevocations(o.CRLs), agreementsOnly: o.AgreementsOnly, visit: o.Visit}
	if o.Bounded {
		st, err := newSpillStates(o.TempDir, size)
		if err != nil {
			return nil, err
		}
		a.states, a.keepHistory = st, false
	} else {
		a.states = newMemStates()
	}
	defer a.states.close()
	a.tree, _ = tlog.NewTree(0, nil)
	var leaves [][]byte
	p := &pipeline{a: a}
	flush := func() error {
		err := p.push(leaves)
		leaves = nil
		if err == nil && o.Progress != nil {
			o.Progress(a.next, size)
		}
		return err
	}
	err := src.Entries(ctx, 0, size, func(i uint64, leaf []byte) error {
		leaves = append(leaves, bytes.Clone(leaf))
		if len(leaves) == chunk {
			return flush()
		}
		return nil
	})
	if err == nil && len(leaves) > 0 {
		err = flush()
	}
	if err == nil {
		err = p.drain()
	}
	if err != nil {
		return nil, err
	}
	if a.next != size {
		return nil, fmt.Errorf("log ends at %d entries, expected %d", a.next, size)
	}
	if err := a.rev.finish(); err != nil {
		return nil, err
	}
	root, err := a.tree.Root()
	if err != nil {
		return nil, err
	}
	asOf := o.AsOf
	if asOf.IsZero() {
		asOf = a.lastTime
	}
	rep := &Report{Entries: a.next, Root: root, Agreement: a.ag, Agreements: a.history, LastTime: a.lastTime, RootAt: a.rootAtV,
		SignedBeforeRevocation: a.rev.before}
	if err := a.states.report(rep, asOf); err != nil {
		return nil, err
	}
	if err := a.states.close(); err != nil {
		return nil, err
	}
	return rep, nil
}

type auditor struct {
	src      Source
	ctx      context.Context
	workers  int
	next     uint64
	lastTime time.Time
	ag       *agreement.Agreement
	certs    map[string]*x509.Certificate
	// states: package states and message id digests (128 bits of author
	// and message id: exact enough, a collision needs ~2^64 ids).
	states      states
	keepHistory bool
	tree        *tlog.Tree
	rootAt      uint64
	rootAtV     []byte
	rev         *revocations
	genesis     []byte
	history     []*agreement.Agreement
	// agreementsOnly and visit: see Options.
	agreementsOnly bool
	visit          func(index uint64, e *mvmv1.Entry) error
}

type decoded struct {
	index uint64
	leaf  []byte
	e     *mvmv1.Entry
	cert  *x509.Certificate
	adm   *entry.Admitted
	err   error
}

// pipeline overlaps the three stages of an audit: while the workers verify
// the signatures of one chunk, the auditor decodes the next and applies the
// previous one in log order. Chunks holding an agreement entry run alone,
// because the agreement decides who is trusted for the entries after it.
type pipeline struct {
	a       *auditor
	decoded uint64 // next index to decode
	pending []*inflight
}

type inflight struct {
	ds   []*decoded
	stop error // a decoding failure after ds
	wg   sync.WaitGroup
}

// push decodes a chunk and starts its verification, applying the chunk
// before it once that one is verified.
func (p *pipeline) push(leaves [][]byte) error {
	ds, stop := p.a.decode(p.decoded, leaves)
	p.decoded += uint64(len(leaves))
	if p.a.agreementsOnly {
		if err := p.a.agreementsOnlyApply(ds); err != nil {
			return err
		}
		return stop
	}
	if p.a.ag == nil || slices.ContainsFunc(ds, func(d *decoded) bool { return d.index == 0 || isAgreement(d.e.Envelope) }) {
		if err := p.drain(); err != nil {
			return err
		}
		if err := p.a.segments(ds); err != nil {
			return err
		}
		return stop
	}
	f := &inflight{ds: ds, stop: stop}
	p.a.verifyAsync(ds, &f.wg)
	p.pending = append(p.pending, f)
	if stop != nil {
		return p.drain()
	}
	if len(p.pending) > 1 {
		return p.applyOldest()
	}
	return nil
}

func (p *pipeline) applyOldest() error {
	f := p.pending[0]
	p.pending = p.pending[1:]
	f.wg.Wait()
	if err := p.a.apply(f.ds); err != nil {
		p.abandon()
		return err
	}
	if f.stop != nil {
		p.abandon()
		return f.stop
	}
	return nil
}

// drain applies every chunk in flight, in order.
func (p *pipeline) drain() error {
	for len(p.pending) > 0 {
		if err := p.applyOldest(); err != nil {
			return err
		}
	}
	return nil
}

// abandon waits for verifications still running after a failure.
func (p *pipeline) abandon() {
	for _, f := range p.pending {
		f.wg.Wait()
	}
	p.pending = nil
}

// decode decodes leaves from index first on. A leaf that cannot be decoded
// (or whose signer certificate cannot be had) ends the run; its error is
// returned apart, to be reported only once the entries before it have
// passed every check, so that the error names the first bad entry.
func (a *auditor) decode(first uint64, leaves [][]byte) ([]*decoded, error) {
	ds := make([]*decoded, 0, len(leaves))
	for i, leaf := range leaves {
		d := &decoded{index: first + uint64(i), leaf: leaf}
		e, err := entry.DecodeLeaf(leaf)
		if err == nil && e.Index != d.index {
			err = fmt.Errorf("leaf claims index %d", e.Index)
		}
		if err == nil && d.index > 0 && (!a.agreementsOnly || isAgreement(e.Envelope)) {
			d.cert, err = a.certificate(e.PeerCertificateSha256)
		}
		if err != nil {
			return ds, &EntryError{d.index, err}
		}
		d.e = e
		ds = append(ds, d)
	}
	return ds, nil
}

// segments verifies and applies a chunk holding agreement entries, one
// segment at a time: each agreement entry changes who is trusted after it.
func (a *auditor) segments(ds []*decoded) error {
	start := 0
	for i, d := range ds {
		if d.index == 0 || isAgreement(d.e.Envelope) {
			if err := a.verifyParallel(ds[start:i]); err != nil {
				return err
			}
			if err := a.apply(ds[start:i]); err != nil {
				return err
			}
			if err := a.agreementEntry(d); err != nil {
				return err
			}
			start = i + 1
		}
	}
	if err := a.verifyParallel(ds[start:]); err != nil {
		return err
	}
	return a.apply(ds[start:])
}

func isAgreement(raw []byte) bool {
	env, err := envelope.Parse(raw)
	return err == nil && env.PayloadType == message.TypeAgreement
}

// verifyParallel runs entry.Prepare and a batch verification of the
// signatures (the checks of entry.Admit) on many cores, and waits. Failures stay on each entry; apply reports them in log
// order.
func (a *auditor) verifyParallel(ds []*decoded) error {
	if len(ds) == 0 {
		return nil
	}
	if a.ag == nil {
		return &EntryError{ds[0].index, errors.New("entry before the genesis agreement")}
	}
	var wg sync.WaitGroup
	a.verifyAsync(ds, &wg)
	wg.Wait()
	return nil
}

// verifyAsync starts verifying ds under the agreement in force now; wg is
// done when all are checked.
func (a *auditor) verifyAsync(ds []*decoded, wg *sync.WaitGroup) {
	ag := a.ag
	per := (len(ds) + a.workers - 1) / max(1, a.workers)
	for start := 0; start < len(ds); start += max(1, per) {
		part := ds[start:min(len(ds), start+max(1, per))]
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Every check but the signatures, then the signatures of the
			// whole part as one batch (envelope.VerifyBatch: the verdicts
			// of one-by-one verification at about half the cost).
			var checks []envelope.Check
			var owner []*decoded
			for _, d := range part {
				at := d.e.ReceivedAt.AsTime()
				var cs []envelope.Check
				if d.adm, cs, d.err = entry.Prepare(ag, d.e.Envelope, d.cert, at); d.err != nil {
					continue
				}
				for _, c := range cs {
					checks = append(checks, c)
					owner = append(owner, d)
				}
			}
			for i, err := range envelope.VerifyBatch(checks) {
				if d := owner[i]; err != nil && d.err == nil {
					d.adm, d.err = nil, err
				}
			}
		}()
	}
}

// apply runs the reducer and extends the tree, in order.
func (a *auditor) apply(ds []*decoded) error {
	for _, d := range ds {
		if d.err != nil {
			return &EntryError{d.index, d.err}
		}
		if err := a.rev.check(d.index, d.e.ReceivedAt.AsTime(), []signerCert{{d.cert, d.adm.Author.String()}}); err != nil {
			return err
		}
		if err := a.common(d); err != nil {
			return err
		}
		sum := sha256.Sum256([]byte(d.adm.Author.URI() + "\x00" + d.adm.MessageID()))
		key := [16]byte(sum[:16])
		prev, dup, err := a.states.useMsgID(key, d.index)
		if err != nil {
			return err
		}
		if dup {
			return &EntryError{d.index, fmt.Errorf("message id %q of %s was already used at index %d", d.adm.MessageID(), d.adm.Author, prev)}
		}
		id := message.PackageID(d.adm.Payload)
		pkg, err := a.states.pkg(id)
		if err != nil {
			return err
		}
		next, err := workflow.Apply(a.ag, pkg, workflow.Input{Index: d.index, ReceivedAt: d.e.ReceivedAt.AsTime(),
			Author: d.adm.Author, Payload: d.adm.Payload})
		if err != nil {
			return &EntryError{d.index, fmt.Errorf("workflow refuses it: %w", err)}
		}
		if !a.keepHistory {
			next = next.Compact()
		}
		if err := a.states.setPkg(id, next); err != nil {
			return err
		}
	}
	return nil
}

// common: continuity, receive time (entry.CheckReceived, in log order: it
// needs the previous entry's; a bad signature is named before it), tree.
func (a *auditor) common(d *decoded) error {
	if d.index != a.next {
		return &EntryError{d.index, fmt.Errorf("expected index %d", a.next)}
	}
	t := d.e.ReceivedAt.AsTime()
	if err := entry.CheckReceived(a.ag, d.adm, t, a.lastTime); err != nil {
		return &EntryError{d.index, err}
	}
	if err := a.tree.Append(tlog.LeafHash(d.leaf), nil); err != nil {
		return &EntryError{d.index, err}
	}
	a.lastTime = t
	a.next++
	if a.visit != nil {
		if err := a.visit(d.index, d.e); err != nil {
			return err
		}
	}
	if a.next == a.rootAt {
		root, err := a.tree.Root()
		if err != nil {
			return &EntryError{d.index, err}
		}
		a.rootAtV = root
	}
	return nil
}

// agreementEntry verifies the genesis agreement or an amendment: every
// party's signature, and (for amendments) that the submitting peer signed.
func (a *auditor) agreementEntry(d *decoded) error {
	if d.index == 0 && len(a.genesis) > 0 && !bytes.Equal(d.e.Envelope, a.genesis) {
		return &EntryError{0, errors.New("the genesis agreement is not the pinned one")}
	}
	env, err := envelope.Parse(d.e.Envelope)
	if err != nil {
		return &EntryError{d.index, err}
	}
	p, err := message.Decode(env.PayloadType, env.Payload)
	if err == nil {
		err = message.Validate(p)
	}
	if err != nil {
		return &EntryError{d.index, err}
	}
	ap, ok := p.(*mvmv1.Agreement)
	if !ok {
		return &EntryError{d.index, fmt.Errorf("entry 0 is a %s, not the agreement", env.PayloadType)}
	}
	at := d.e.ReceivedAt.AsTime()
	if d.index > 0 {
		if _, err := entry.Admit(a.ag, d.e.Envelope, d.cert, at); err != nil {
			return &EntryError{d.index, err}
		}
	}
	next, err := workflow.Amend(a.ag, env, ap, d.index, at)
	if err != nil {
		return &EntryError{d.index, err}
	}
	a.rev.agreement(next)
	if err := a.rev.check(d.index, at, agreementSigners(d, env)); err != nil {
		return err
	}
	if err := a.common(d); err != nil {
		return err
	}
	a.ag = next
	a.history = append(a.history, next)
	return nil
}

func (a *auditor) certificate(sha []byte) (*x509.Certificate, error) {
	if c, ok := a.certs[string(sha)]; ok {
		return c, nil
	}
	der, err := a.src.Certificate(a.ctx, sha)
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
	a.certs[string(sha)] = c
	return c, nil
}
