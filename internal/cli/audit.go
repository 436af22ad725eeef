package cli

import (
	"bytes"
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/mvm-exchange/mvm/client/mvmclient"
	"github.com/mvm-exchange/mvm/internal/agreement"
	"github.com/mvm-exchange/mvm/internal/audit"
	"github.com/mvm-exchange/mvm/internal/entry"
	"github.com/mvm-exchange/mvm/internal/revocation"
	"github.com/mvm-exchange/mvm/internal/tlog"
	mvmv1 "github.com/mvm-exchange/mvm/proto/mvm/v1"
)

// auditRun is one audit: of a server or of a bundle.
type auditRun struct {
	crls     []*x509.RevocationList
	crlFiles []string
	e        *env
	key      logKey
	pinned   []byte
	ag       *agreement.Agreement // in force at the end of the audit
	state    stateFile
	quiet    bool
	tempDir  string
	bodies   *bodyAuditor     // audit --key: opens sealed bodies (sealed_audit.go)
	evidence *evidenceAuditor // audit --evidence (audit_evidence.go)
}

// run audits src up to the checkpoint signed, checking consistency with
// the saved state first (with the server's proof if proof is not nil, and
// in any case by recomputing the old root). It returns the checkpoint.
func (a *auditRun) run(ctx context.Context, src audit.Source, signed []byte, proof audit.ProofFunc) ([]byte, error) {
	cp, err := a.key.checkpoint(signed)
	if err != nil {
		return nil, fmt.Errorf("FAILED: checkpoint: %w", err)
	}
	a.e.printf("auditing %d entries of %s\n", cp.Size, cp.Origin)
	progress := func(done, total uint64) {
		if !a.quiet && total >= 10_000 {
			fmt.Fprintf(a.e.stderr, "audit: %d/%d entries verified\n", done, total)
		}
	}
	// Bounded: memory must not grow with the log (package states and
	// message ids go to temporary files); only the counts are printed.
	o := audit.Options{Progress: progress, CRLs: a.crls, Genesis: a.pinned, Bounded: true, TempDir: a.tempDir}
	if a.bodies != nil {
		o.Visit = a.bodies.visit
		defer a.bodies.wait() // a failed audit's workers too
	}
	if ev := a.evidence; ev != nil {
		bodies := o.Visit
		o.Visit = func(index uint64, en *entry.Opened) error {
			if bodies != nil {
				if err := bodies(index, en); err != nil {
					return err
				}
			}
			return ev.visit(index, en)
		}
	}
	_, err = a.e.checkedLog(ctx, src, signed, a.state, proof, o, func(ver *audit.Verified, prev *tlog.Checkpoint) error {
		return a.report(ctx, ver, prev)
	})
	if le := (*logError)(nil); errors.As(err, &le) {
		return nil, fmt.Errorf("FAILED: %w", le.err)
	}
	if err != nil {
		return nil, err
	}
	return signed, nil
}

// report prints what the audit established, before its checkpoint is
// saved.
func (a *auditRun) report(ctx context.Context, ver *audit.Verified, prev *tlog.Checkpoint) error {
	rep, cp, signed := ver.Report, ver.Checkpoint, ver.Signed
	a.e.printf("verified %d entries: signatures, certificates, index continuity, workflow\n", rep.Entries)
	a.printRevocations(rep)
	if prev != nil {
		a.e.printf("consistent with the checkpoint of size %d verified before\n", prev.Size)
	} else if a.state.path != "" {
		a.e.printf("no earlier checkpoint in %s: this audit starts its history\n", a.state.path)
	}
	a.e.printf("packages: %d, breaches as of %s: %d\n", rep.PackageCount, stamp(rep.LastTime), rep.BreachCount)
	a.e.printf("checkpoint: %s size %d root %x\n", cp.Origin, cp.Size, cp.Hash)
	if n, err := a.key.witnesses(signed, rep.Agreement); err == nil && n.Count() > 0 {
		a.e.printf("cosignatures on it: %s\n", witnessLine(n, rep.Agreement))
	}
	a.ag = rep.Agreement
	if a.bodies != nil {
		if err := a.bodies.report(a.e); err != nil {
			return err
		}
	}
	if a.evidence != nil {
		if err := a.evidence.check(ctx, a.e, rep.Agreement); err != nil {
			return err
		}
	}
	a.e.printf("audit: OK\n")
	return nil
}

// cosign signs the verified checkpoint with the mediator's cosigner key
// (CERTS/NAME.cosign.key) and sends it to the server, unless the server is
// a mediator node (it says so and leaves the cosignature to the primary).
func (a *auditRun) cosign(ctx context.Context, c *mvmclient.Client, signed []byte) error {
	skey, err := os.ReadFile(filepath.Join(a.e.certs, a.e.as+".cosign.key"))
	if errors.Is(err, os.ErrNotExist) {
		return nil // not a mediator with a cosigner key
	}
	if err != nil {
		return err
	}
	// A node takes no writes: the cosignature goes to its primary (what
	// the server is was asked once, compareWithNode's answer if it did).
	if st, err := a.e.status(ctx, c); err == nil && st.Role == "node" {
		a.e.printf("not cosigned: %s is a mediator node, which takes no writes; audit its primary %s with --state to cosign\n", a.e.server, st.Primary)
		return nil
	}
	line, err := tlog.Cosign(strings.TrimSpace(string(skey)), signed, a.key.Name(), a.key)
	if err != nil {
		return fmt.Errorf("cosign: %w", err)
	}
	resp, err := c.API.AddCosignature(ctx, &mvmv1.AddCosignatureRequest{Checkpoint: signed, SignatureLine: line})
	if err != nil {
		return fmt.Errorf("cosign: %w", err)
	}
	cp, err := a.key.checkpoint(resp.Checkpoint)
	if err != nil {
		return fmt.Errorf("cosign: the server's answer: %w", err)
	}
	// a.ag is in force at the audited size only: the witnesses of another
	// checkpoint would be counted under the wrong agreement.
	if mine, err := a.key.checkpoint(signed); err != nil || mine.Size != cp.Size || !bytes.Equal(mine.Hash, cp.Hash) {
		return fmt.Errorf("cosign: the server answered with the checkpoint of size %d, not the one cosigned", cp.Size)
	}
	n, err := a.key.witnesses(resp.Checkpoint, a.ag)
	if err != nil {
		return fmt.Errorf("cosign: the server's answer: %w", err)
	}
	a.e.printf("cosigned checkpoint size %d (%s)\n", cp.Size, witnessLine(n, a.ag))
	return nil
}

// readCRLs reads the CRL files named, or by default every CERTS/crl-*.pem.
// The audit verifies each against its party's CA.
func readCRLs(certs string, files []string) ([]*x509.RevocationList, []string, error) {
	if files == nil {
		var err error
		if files, err = filepath.Glob(filepath.Join(certs, "crl-*.pem")); err != nil {
			return nil, nil, err
		}
	}
	var out []*x509.RevocationList
	for _, f := range files {
		rl, err := revocation.ReadFile(f)
		if err != nil {
			return nil, nil, fmt.Errorf("crl: %w", err)
		}
		out = append(out, rl)
	}
	return out, files, nil
}

// printRevocations says which CRLs were checked and lists the entries
// signed by certificates revoked after the entry was logged.
func (a *auditRun) printRevocations(rep *audit.Report) {
	if len(a.crls) == 0 {
		return
	}
	a.e.printf("revocation: checked against %d CRL(s): %s\n", len(a.crls), strings.Join(a.crlFiles, ", "))
	if n := len(rep.SignedBeforeRevocation); n > 0 {
		const most = 20
		list := make([]string, 0, min(n, most))
		for _, i := range rep.SignedBeforeRevocation[:min(n, most)] {
			list = append(list, fmt.Sprint(i))
		}
		more := ""
		if n > most {
			more = fmt.Sprintf(", ... (%d more)", n-most)
		}
		a.e.printf("%d entries signed by certificates revoked later: %s%s\n", n, strings.Join(list, ", "), more)
	}
}
