package cli

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io"

	"github.com/mvm-exchange/mvm/client/mvmclient"
	"github.com/mvm-exchange/mvm/internal/agreement"
	"github.com/mvm-exchange/mvm/internal/entry"
	"github.com/mvm-exchange/mvm/internal/evidence/sealedfile"
	"github.com/mvm-exchange/mvm/internal/message"
	"github.com/mvm-exchange/mvm/internal/seal"
	mvmv1 "github.com/mvm-exchange/mvm/proto/mvm/v1"
)

// evidenceAuditor is audit --evidence: while the log is verified it notes
// every file an EvidenceSubmission names (its stored digest and size, in
// clear in sealed submissions too) and the packages the caller's party
// answers for; once the log verified, it downloads each file in the
// caller's scope and hashes it as it streams (constant memory), so that a
// logged digest without its object, or with other bytes, is found. A
// sealed file is checked as stored (ciphertext) and, when the audit holds
// its package's key (audit --key, sealed_audit.go), decrypted chunk by
// chunk and checked against the plaintext digest its author sealed.
//
// The scope is decided here, from the verified log, not by the server: a
// mediator's is every package; another party's, the packages it is the
// responder of, or that it submitted when it is the agreement's only
// submitter party (with several submitter parties, a submitter's own
// packages are not told apart here: not checked). Memory grows with the
// number of files logged (one digest, size, index and package id each),
// of packages naming their responder and, with a key, of packages the
// party reads (their keys), not with the log.
type evidenceAuditor struct {
	c      *mvmclient.Client
	bodies *bodyAuditor // nil: no key, sealed files checked as stored only
	keys   map[string]seal.PackageKey
	party  string
	files  []*auditedFile
	seen   map[[32]byte]bool
	// named holds the responder of each package that names one; a
	// package that names none is addressed to the agreement's only
	// responder party (as the reducer decides).
	named map[string]string
}

type auditedFile struct {
	index uint64
	pkg   string
	sum   []byte
	size  int64
	// Sealed files whose body the audit opened: the package key and the
	// plaintext's digest and size.
	key       *seal.PackageKey
	plainSum  []byte
	plainSize int64
}

func newEvidenceAuditor(c *mvmclient.Client, bodies *bodyAuditor) *evidenceAuditor {
	return &evidenceAuditor{c: c, bodies: bodies, party: c.ID.Party, seen: map[[32]byte]bool{}, named: map[string]string{}, keys: map[string]seal.PackageKey{}}
}

// visit is an audit.Options.Visit: it sees every entry once verified.
func (a *evidenceAuditor) visit(index uint64, o *entry.Opened) error {
	switch m := o.Payload.(type) {
	case *mvmv1.TargetPackage:
		if r := m.GetResponder(); r != "" {
			a.named[message.PackageID(m)] = r
		}
		if a.bodies != nil && message.IsSealed(m) {
			// The key of every package the party reads (32 bytes each,
			// one HPKE decapsulation): a package's files come later in
			// the log. A wrap that does not open is reported by the
			// bodies' audit as its author's fault.
			if k, err := a.bodies.kr.PackageKey(a.bodies.origin, m); err == nil {
				a.keys[message.PackageID(m)] = k
			}
		}
	case *mvmv1.EvidenceSubmission:
		var key *seal.PackageKey
		if a.bodies != nil && message.IsSealed(m) {
			// A body that does not open is reported by the bodies'
			// audit as its author's fault; its files are checked as
			// stored only.
			if k, ok := a.keys[m.PackageId]; ok {
				if full, err := message.Open(a.bodies.origin, k, o.Type, o.Envelope.GetPayload()); err == nil {
					m, key = full.(*mvmv1.EvidenceSubmission), &k
				}
			}
		}
		for _, f := range m.Files {
			if len(f.StoredSha256) != sha256.Size || a.seen[[32]byte(f.StoredSha256)] {
				continue // one check per stored object
			}
			a.seen[[32]byte(f.StoredSha256)] = true
			af := &auditedFile{index: index, pkg: m.PackageId, sum: f.StoredSha256, size: f.StoredSize}
			if key != nil && len(f.PlaintextSha256) > 0 {
				af.key, af.plainSum, af.plainSize = key, f.PlaintextSha256, f.PlaintextSize
			}
			a.files = append(a.files, af)
		}
	}
	return nil
}

// inScope reports whether the caller's party may read package pkg under
// ag, the agreement in force at the end of the audit.
func (a *evidenceAuditor) inScope(ag *agreement.Agreement, pkg string) bool {
	switch ag.RoleOf(a.party) {
	case mvmv1.Role_ROLE_MEDIATOR:
		return true
	case mvmv1.Role_ROLE_SUBMITTER:
		if s := ag.PartiesWithRole(mvmv1.Role_ROLE_SUBMITTER); len(s) == 1 {
			return true
		}
	}
	if r, ok := a.named[pkg]; ok {
		return r == a.party
	}
	r := ag.PartiesWithRole(mvmv1.Role_ROLE_RESPONDER)
	return len(r) == 1 && r[0] == a.party
}

// check downloads and hashes every file in scope, prints each one that is
// missing or other than logged, with its entry index, and a summary; it
// fails if any is.
func (a *evidenceAuditor) check(ctx context.Context, e *env, ag *agreement.Agreement) error {
	var checked, bad, outside, opened, faults int
	for _, f := range a.files {
		if !a.inScope(ag, f.pkg) {
			outside++
			continue
		}
		checked++
		h, pt := sha256.New(), sha256.New()
		var w io.Writer = h
		var dec *keepGoing
		if f.key != nil {
			dec = &keepGoing{w: sealedfile.NewWriter(*f.key, f.pkg, pt)}
			w = io.MultiWriter(h, dec)
		}
		n, err := a.c.DownloadEvidence(ctx, f.pkg, f.sum, 0, 0, w)
		switch got := h.Sum(nil); {
		case err != nil:
			bad++
			e.printf("evidence: entry %d, package %s, sha256 %x: not stored whole on the exchange: %s\n", f.index, f.pkg, f.sum, e.explain(err))
		case !bytes.Equal(got, f.sum) || n != f.size:
			bad++
			e.printf("evidence: entry %d, package %s, sha256 %x: the exchange holds %d bytes with sha256 %x, not the %d bytes logged\n", f.index, f.pkg, f.sum, n, got, f.size)
		case dec == nil:
		case firstNonNil(dec.err, dec.w.Close()) != nil || !bytes.Equal(pt.Sum(nil), f.plainSum) || dec.w.Written() != f.plainSize:
			// The stored bytes are the logged ones: the author's fault.
			faults++
			e.printf("evidence: entry %d, package %s, sha256 %x: stored as logged, but it does not open to the %d-byte plaintext with sha256 %x its author sealed (%v): a fault of its author\n",
				f.index, f.pkg, f.sum, f.plainSize, f.plainSum, firstNonNil(dec.err, dec.w.Close()))
		default:
			opened++
		}
	}
	e.printf("evidence files: %d logged in your scope, %d stored whole and matching, %d missing or other than logged; %d in packages party %s may not read\n",
		checked, checked-bad, bad, outside, a.party)
	if opened+faults > 0 {
		e.printf("sealed evidence files: %d decrypted to the plaintext their author sealed, %d not (their authors' faults)\n", opened, faults)
	}
	switch {
	case bad > 0:
		return fmt.Errorf("FAILED: %d of %d evidence files the log names are not stored whole and matching their logged digest", bad, checked)
	case faults > 0:
		return fmt.Errorf("FAILED: %d sealed evidence files do not open to the plaintext their authors sealed", faults)
	}
	return nil
}
