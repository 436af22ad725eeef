package cli

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"

	"github.com/mvm-exchange/mvm/client/mvmclient"
	"github.com/mvm-exchange/mvm/internal/agreement"
	"github.com/mvm-exchange/mvm/internal/entry"
	"github.com/mvm-exchange/mvm/internal/message"
	mvmv1 "github.com/mvm-exchange/mvm/proto/mvm/v1"
)

// evidenceAuditor is audit --evidence: while the log is verified it notes
// every file an EvidenceSubmission names (its stored digest and size, in
// clear in sealed submissions too) and the packages the caller's party
// answers for; once the log verified, it downloads each file in the
// caller's scope and hashes it as it streams (constant memory), so that a
// logged digest without its object, or with other bytes, is found. Sealed
// files are checked as stored (ciphertext): their plaintext is checked by
// evidence get, which holds the key.
//
// The scope is decided here, from the verified log, not by the server: a
// mediator's is every package; another party's, the packages it is the
// responder of, or that it submitted when it is the agreement's only
// submitter party (with several submitter parties, a submitter's own
// packages are not told apart here: not checked). Memory grows with the
// number of files logged (one digest, size, index and package id each)
// and of packages naming their responder, not with the log.
type evidenceAuditor struct {
	c     *mvmclient.Client
	party string
	files []*auditedFile
	seen  map[[32]byte]bool
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
}

func newEvidenceAuditor(c *mvmclient.Client) *evidenceAuditor {
	return &evidenceAuditor{c: c, party: c.ID.Party, seen: map[[32]byte]bool{}, named: map[string]string{}}
}

// visit is an audit.Options.Visit: it sees every entry once verified.
func (a *evidenceAuditor) visit(index uint64, o *entry.Opened) error {
	switch m := o.Payload.(type) {
	case *mvmv1.TargetPackage:
		if r := m.GetResponder(); r != "" {
			a.named[message.PackageID(m)] = r
		}
	case *mvmv1.EvidenceSubmission:
		for _, f := range m.Files {
			if len(f.StoredSha256) != sha256.Size || a.seen[[32]byte(f.StoredSha256)] {
				continue // one check per stored object
			}
			a.seen[[32]byte(f.StoredSha256)] = true
			a.files = append(a.files, &auditedFile{index: index, pkg: m.PackageId, sum: f.StoredSha256, size: f.StoredSize})
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
	var checked, bad, outside int
	for _, f := range a.files {
		if !a.inScope(ag, f.pkg) {
			outside++
			continue
		}
		checked++
		h := sha256.New()
		n, err := a.c.DownloadEvidence(ctx, f.pkg, f.sum, 0, 0, h)
		switch got := h.Sum(nil); {
		case err != nil:
			bad++
			e.printf("evidence: entry %d, package %s, sha256 %x: not stored whole on the exchange: %s\n", f.index, f.pkg, f.sum, e.explain(err))
		case !bytes.Equal(got, f.sum) || n != f.size:
			bad++
			e.printf("evidence: entry %d, package %s, sha256 %x: the exchange holds %d bytes with sha256 %x, not the %d bytes logged\n", f.index, f.pkg, f.sum, n, got, f.size)
		}
	}
	e.printf("evidence files: %d logged in your scope, %d stored whole and matching, %d missing or other than logged; %d in packages party %s may not read\n",
		checked, checked-bad, bad, outside, a.party)
	if bad > 0 {
		return fmt.Errorf("FAILED: %d of %d evidence files the log names are not stored whole and matching their logged digest", bad, checked)
	}
	return nil
}
