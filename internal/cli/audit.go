package cli

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/mod/sumdb/note"

	"github.com/mvm-exchange/mvm/client/mvmclient"
	"github.com/mvm-exchange/mvm/internal/agreement"
	"github.com/mvm-exchange/mvm/internal/atomicfile"
	"github.com/mvm-exchange/mvm/internal/audit"
	"github.com/mvm-exchange/mvm/internal/revocation"
	"github.com/mvm-exchange/mvm/internal/tlog"
	mvmv1 "github.com/mvm-exchange/mvm/proto/mvm/v1"
)

func init() {
	var logKey, genesis, statePath, bundlePath, tempDir string
	var quiet, noCosign bool
	var crlFiles []string
	register(&command{
		longRunning: true,
		// Offline, a bundle carries what it needs and the pins come from
		// --certs: no identity. A server is audited as --as.
		identityOptional: true,
		name:             "audit", args: "[--state FILE] [--bundle FILE] [--log-key FILE] [--agreement FILE] [--crl FILE ...] [--temp-dir DIR]",
		summary: "verify the whole log: every entry, the workflow, the checkpoint, consistency with the last audit",
		flags: func(fs *flag.FlagSet) {
			fs.StringVar(&logKey, "log-key", "", "pinned log verifier key (default CERTS/log.vkey)")
			fs.StringVar(&genesis, "agreement", "", "pinned genesis agreement envelope (default CERTS/agreement.envelope)")
			fs.StringVar(&statePath, "state", "", "file keeping the last verified checkpoint; the next audit demands consistency with it, and mediators cosign")
			fs.StringVar(&bundlePath, "bundle", "", "audit an offline bundle (from export) instead of the server")
			fs.BoolVar(&noCosign, "no-cosign", false, "mediators: do not cosign the verified checkpoint")
			fs.BoolVar(&quiet, "quiet", false, "no progress lines")
			fs.StringVar(&tempDir, "temp-dir", "", "directory for the audit's temporary files of package states and message ids (default $TMPDIR or /tmp)")
			crlFiles = nil
			fs.Func("crl", "a party CA's certificate revocation list, DER or PEM (repeatable; default: every CERTS/crl-*.pem)", func(v string) error {
				crlFiles = append(crlFiles, v)
				return nil
			})
		},
		run: func(e *env, fs *flag.FlagSet, args []string) error {
			if err := exactly(0, args, "no positional arguments"); err != nil {
				return err
			}
			if bundlePath == "" && e.as == "" {
				return usagef("--as NAME is required to audit a server (an offline audit of a --bundle needs none)")
			}
			a := &auditRun{e: e, statePath: statePath, quiet: quiet, tempDir: tempDir}
			var err error
			if a.v, err = e.logVerifier(logKey); err != nil {
				return err
			}
			if genesis == "" {
				genesis = filepath.Join(e.certs, "agreement.envelope")
			}
			if a.pinned, err = os.ReadFile(genesis); err != nil {
				return fmt.Errorf("pinned agreement: %w", err)
			}
			if a.crls, a.crlFiles, err = readCRLs(e.certs, crlFiles); err != nil {
				return err
			}
			if bundlePath != "" {
				b, err := audit.OpenBundle(bundlePath)
				if err != nil {
					return fmt.Errorf("FAILED: %w", err)
				}
				ctx, cancel := e.context()
				defer cancel()
				_, err = a.run(ctx, b, b.Header.Checkpoint, nil)
				return err
			}
			return e.withClient(func(ctx context.Context, c *mvmclient.Client) error {
				resp, err := c.API.GetCheckpoint(ctx, &mvmv1.GetCheckpointRequest{})
				if err != nil {
					return err
				}
				signed, err := a.run(ctx, c, resp.Checkpoint, consistencyProof(ctx, c))
				if err != nil || noCosign || statePath == "" {
					return err
				}
				return a.cosign(ctx, c, signed)
			})
		},
	})
}

// auditRun is one audit: of a server or of a bundle.
type auditRun struct {
	crls      []*x509.RevocationList
	crlFiles  []string
	e         *env
	v         note.Verifier
	pinned    []byte
	ag        *agreement.Agreement // in force at the end of the audit
	statePath string
	quiet     bool
	tempDir   string
}

// auditState is what --state keeps between audits.
type auditState struct {
	Origin     string `json:"origin"`
	Size       uint64 `json:"size"`
	Root       []byte `json:"root"`
	Checkpoint string `json:"checkpoint"`
}

// run audits src up to the checkpoint signed, checking consistency with
// the saved state first (with the server's proof if proof is not nil, and
// in any case by recomputing the old root). It returns the checkpoint.
func (a *auditRun) run(ctx context.Context, src audit.Source, signed []byte, proof audit.ProofFunc) ([]byte, error) {
	cp, _, err := tlog.OpenCheckpoint(signed, a.v.Name(), a.v)
	if err != nil {
		return nil, fmt.Errorf("FAILED: checkpoint: %w", err)
	}
	prev, err := a.loadState()
	if err != nil {
		return nil, err
	}
	a.e.printf("auditing %d entries of %s\n", cp.Size, cp.Origin)
	progress := func(done, total uint64) {
		if !a.quiet && total >= 10_000 {
			fmt.Fprintf(a.e.stderr, "audit: %d/%d entries verified\n", done, total)
		}
	}
	// Bounded: memory must not grow with the log (package states and
	// message ids go to temporary files); only the counts are printed.
	ver, err := audit.VerifyLog(ctx, src, signed, a.v, prev.checkpoint(), proof, audit.Options{Progress: progress, CRLs: a.crls, Genesis: a.pinned,
		Bounded: true, TempDir: a.tempDir})
	if err != nil {
		return nil, fmt.Errorf("FAILED: %w", err)
	}
	rep := ver.Report
	a.e.printf("verified %d entries: signatures, certificates, index continuity, workflow\n", rep.Entries)
	a.printRevocations(rep)
	if prev != nil {
		a.e.printf("consistent with the checkpoint of size %d verified before\n", prev.Size)
	} else if a.statePath != "" {
		a.e.printf("no earlier checkpoint in %s: this audit starts its history\n", a.statePath)
	}
	a.e.printf("packages: %d, breaches as of %s: %d\n", rep.PackageCount, stamp(rep.LastTime), rep.BreachCount)
	a.e.printf("checkpoint: %s size %d root %x\n", cp.Origin, cp.Size, cp.Hash)
	if n, err := witnesses(signed, rep.Agreement, a.v); err == nil && n > 0 {
		a.e.printf("cosignatures on it: %s\n", witnessLine(n, rep.Agreement))
	}
	a.ag = rep.Agreement
	a.e.printf("audit: OK\n")
	if a.statePath != "" {
		if err := a.saveState(&auditState{Origin: cp.Origin, Size: cp.Size, Root: cp.Hash, Checkpoint: string(signed)}); err != nil {
			return nil, err
		}
	}
	return signed, nil
}

// checkpoint is the saved checkpoint, nil without a state.
func (st *auditState) checkpoint() *tlog.Checkpoint {
	if st == nil {
		return nil
	}
	return &tlog.Checkpoint{Origin: st.Origin, Size: st.Size, Hash: st.Root}
}

func (a *auditRun) loadState() (*auditState, error) {
	if a.statePath == "" {
		return nil, nil
	}
	b, err := os.ReadFile(a.statePath)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("state: %w", err)
	}
	st := &auditState{}
	if err := json.Unmarshal(b, st); err != nil {
		return nil, fmt.Errorf("state %s: %w", a.statePath, err)
	}
	// Only the signed checkpoint counts: it must still verify under the
	// pinned key, and size and root are taken from it.
	cp, _, err := tlog.OpenCheckpoint([]byte(st.Checkpoint), a.v.Name(), a.v)
	if err != nil {
		return nil, fmt.Errorf("state %s: saved checkpoint: %w", a.statePath, err)
	}
	st.Origin, st.Size, st.Root = cp.Origin, cp.Size, cp.Hash
	return st, nil
}

func (a *auditRun) saveState(st *auditState) error {
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return err
	}
	// The state is what protects this auditor against a rollback: written
	// durably, and never half of it.
	if err := atomicfile.WriteFile(a.statePath, append(b, '\n'), 0o600); err != nil {
		return fmt.Errorf("state: %w", err)
	}
	return nil
}

// cosign signs the verified checkpoint with the mediator's cosigner key
// (CERTS/NAME.cosign.key) and sends it to the server.
func (a *auditRun) cosign(ctx context.Context, c *mvmclient.Client, signed []byte) error {
	skey, err := os.ReadFile(filepath.Join(a.e.certs, a.e.as+".cosign.key"))
	if errors.Is(err, os.ErrNotExist) {
		return nil // not a mediator with a cosigner key
	}
	if err != nil {
		return err
	}
	line, err := tlog.Cosign(strings.TrimSpace(string(skey)), signed, a.v.Name(), a.v)
	if err != nil {
		return fmt.Errorf("cosign: %w", err)
	}
	resp, err := c.API.AddCosignature(ctx, &mvmv1.AddCosignatureRequest{Checkpoint: signed, SignatureLine: line})
	if err != nil {
		return fmt.Errorf("cosign: %w", err)
	}
	cp, _, err := tlog.OpenCheckpoint(resp.Checkpoint, a.v.Name(), a.v)
	if err != nil {
		return fmt.Errorf("cosign: the server's answer: %w", err)
	}
	// a.ag is in force at the audited size only: the witnesses of another
	// checkpoint would be counted under the wrong agreement.
	if mine, _, err := tlog.OpenCheckpoint(signed, a.v.Name(), a.v); err != nil || mine.Size != cp.Size || !bytes.Equal(mine.Hash, cp.Hash) {
		return fmt.Errorf("cosign: the server answered with the checkpoint of size %d, not the one cosigned", cp.Size)
	}
	n, err := witnesses(resp.Checkpoint, a.ag, a.v)
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
