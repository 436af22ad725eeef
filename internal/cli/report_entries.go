package cli

import (
	"context"
	"crypto/x509"
	"fmt"
	"slices"
	"strings"

	"github.com/mvm-exchange/mvm/client/mvmclient"
	"github.com/mvm-exchange/mvm/internal/audit"
	"github.com/mvm-exchange/mvm/internal/entry"
	"github.com/mvm-exchange/mvm/internal/identity"
	"github.com/mvm-exchange/mvm/internal/message"
	"github.com/mvm-exchange/mvm/internal/report"
	mvmv1 "github.com/mvm-exchange/mvm/proto/mvm/v1"
)

// verifiedEntries is the one place the report commands read the log: it
// verifies the whole log up to a checkpoint of the pinned key (signed, or
// the server's latest when nil; see verifiedLog) and hands fn every entry,
// decoded, in log order, its sealed body opened by open when open is
// given and the caller's key opens it (report.Entry.Opened; open tallies
// what does not), an opened target package with its report salt
// (report.Entry.Salt). What fn builds may be used only once this returns
// without error: an entry is handed over once its signature and its place
// are checked, but a later entry may still fail the audit.
//
// This is the seam to the verifier: switching the report to the
// incremental verifier changes this function only.
func (e *env) verifiedEntries(ctx context.Context, c *mvmclient.Client, statePath string, signed []byte, open *bodyOpener, fn func(report.Entry) error) (*audit.Verified, error) {
	authors := map[string]identity.Identity{} // by certificate SHA-256
	visit := func(index uint64, o *entry.Opened) error {
		p, en := o.Payload, o.Entry
		var author identity.Identity
		if _, isAgreement := p.(*mvmv1.Agreement); !isAgreement {
			sha := string(en.PeerCertificateSha256)
			var ok bool
			if author, ok = authors[sha]; !ok {
				der, err := c.Certificate(ctx, en.PeerCertificateSha256)
				if err != nil {
					return fmt.Errorf("entry %d: signer certificate: %w", index, err)
				}
				cert, err := x509.ParseCertificate(der)
				if err != nil {
					return fmt.Errorf("entry %d: signer certificate: %w", index, err)
				}
				if author, err = identity.Parse(cert); err != nil {
					return fmt.Errorf("entry %d: signer certificate: %w", index, err)
				}
				authors[sha] = author
			}
		}
		re := report.Entry{Index: index, ReceivedAt: o.ReceivedAt(), Author: author, Payload: p}
		if open != nil {
			re.Opened = open.openLogged(ctx, index, author, o)
			if _, ok := re.Opened.(*mvmv1.TargetPackage); ok {
				var err error
				if re.Salt, err = open.reportSalt(message.PackageID(p)); err != nil {
					return fmt.Errorf("entry %d: %w", index, err)
				}
			}
		}
		return fn(re)
	}
	// Bounded: the auditor keeps its package states in temporary files,
	// the report keeps its own; one copy in memory, not two.
	return e.verifiedLog(ctx, c, statePath, signed, audit.Options{Visit: visit, Bounded: true})
}

// reportCheckpoint is the checkpoint a report was computed at, with the
// names of its cosigners (every signer of the note but the log).
func reportCheckpoint(ver *audit.Verified) report.Checkpoint {
	cp := ver.Checkpoint
	out := report.Checkpoint{Origin: cp.Origin, Size: cp.Size, Root: cp.Hash, Signed: string(ver.Signed), Cosignatures: []string{}}
	_, sigs, _ := strings.Cut(string(ver.Signed), "\n\n")
	for _, line := range strings.Split(sigs, "\n") {
		name, _, ok := strings.Cut(strings.TrimPrefix(line, "— "), " ")
		if ok && strings.HasPrefix(line, "— ") && name != cp.Origin && !slices.Contains(out.Cosignatures, name) {
			out.Cosignatures = append(out.Cosignatures, name)
		}
	}
	return out
}

// computeReport verifies the log up to signed (the server's latest when
// nil) and computes the report of month from it, with every sealed body
// the caller's key opens; what it cannot open is said on stderr.
func (e *env) computeReport(ctx context.Context, c *mvmclient.Client, statePath string, signed []byte, month report.Month) (*report.Report, error) {
	b := report.NewBuilder(month)
	open := e.newBodyOpener(c)
	ver, err := e.verifiedEntries(ctx, c, statePath, signed, open, b.Add)
	if err != nil {
		return nil, err
	}
	e.printSealedSummary(open)
	return b.Report(reportCheckpoint(ver)), nil
}

// printSealedSummary prints on stderr what a whole-log read could not
// open (bodyOpener.sealedSummary).
func (e *env) printSealedSummary(open *bodyOpener) {
	for _, l := range open.sealedSummary() {
		fmt.Fprintln(e.stderr, l)
	}
}
