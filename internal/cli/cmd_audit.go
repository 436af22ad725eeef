package cli

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime/debug"

	"github.com/mvm-exchange/mvm/client/mvmclient"
	"github.com/mvm-exchange/mvm/internal/audit"
	mvmv1 "github.com/mvm-exchange/mvm/proto/mvm/v1"
)

// auditCmd verifies the whole log, of a server or of an offline bundle
// (audit.go). Offline, a bundle carries what it needs and the pins come
// from --certs: no identity. A server is audited as --as.
type auditCmd struct {
	logKey, genesis, statePath, bundlePath, tempDir string
	quiet, noCosign, evidence                       bool
	crlFiles                                        []string   // nil: every CERTS/crl-*.pem
	keyFiles                                        stringList // nil: CERTS/seal-<party>.key if present
}

func (c *auditCmd) register(fs *flag.FlagSet) {
	fs.StringVar(&c.logKey, "log-key", "", "pinned log verifier key (default CERTS/log.vkey)")
	fs.StringVar(&c.genesis, "agreement", "", "pinned genesis agreement envelope (default CERTS/agreement.envelope)")
	fs.StringVar(&c.statePath, "state", "", "file keeping the last verified checkpoint; the next audit demands consistency with it, and mediators cosign")
	fs.StringVar(&c.bundlePath, "bundle", "", "audit an offline bundle (from export) instead of the server")
	fs.BoolVar(&c.noCosign, "no-cosign", false, "mediators: do not cosign the verified checkpoint")
	fs.BoolVar(&c.quiet, "quiet", false, "no progress lines")
	fs.BoolVar(&c.evidence, "evidence", false, "also download every evidence file the log names in your scope and check it is stored whole, matching its logged digest")
	fs.StringVar(&c.tempDir, "temp-dir", "", "directory for the audit's temporary files of package states and message ids (default $TMPDIR or /tmp)")
	fs.Func("crl", "a party CA's certificate revocation list, DER or PEM (repeatable; default: every CERTS/crl-*.pem)", func(v string) error {
		c.crlFiles = append(c.crlFiles, v)
		return nil
	})
	fs.Var(&c.keyFiles, "key", "decryption key `FILE` (or a directory of key files) of the --as party: open and validate every sealed body it may read (repeatable for rotated keys; default CERTS/seal-<party>.key if present)")
}

func (c *auditCmd) run(e *env, args []string) error {
	if err := exactly(0, args, "no positional arguments"); err != nil {
		return err
	}
	if c.bundlePath == "" && e.as == "" {
		return usagef("--as NAME is required to audit a server (an offline audit of a --bundle needs none)")
	}
	collectLessOften()
	a := &auditRun{e: e, quiet: c.quiet, tempDir: c.tempDir}
	var err error
	if a.key, err = e.logVerifier(c.logKey); err != nil {
		return err
	}
	a.state = stateFile{path: c.statePath, key: a.key}
	genesis := c.genesis
	if genesis == "" {
		genesis = filepath.Join(e.certs, "agreement.envelope")
	}
	if a.pinned, err = os.ReadFile(genesis); err != nil {
		return fmt.Errorf("pinned agreement: %w", err)
	}
	if a.crls, a.crlFiles, err = readCRLs(e.certs, c.crlFiles); err != nil {
		return err
	}
	if a.bodies, err = e.newBodyAuditor(c.keyFiles, pinnedOrigin(a.pinned)); err != nil {
		return err
	}
	if c.bundlePath != "" {
		if c.evidence {
			return usagef("--evidence checks the files a server stores: it does not go with --bundle")
		}
		b, err := audit.OpenBundle(c.bundlePath)
		if err != nil {
			return fmt.Errorf("FAILED: %w", err)
		}
		ctx, cancel := e.context()
		defer cancel()
		_, err = a.run(ctx, b, b.Header.Checkpoint, nil)
		return err
	}
	return e.withClient(func(ctx context.Context, cl *mvmclient.Client) error {
		if c.evidence {
			a.evidence = newEvidenceAuditor(cl, a.bodies)
		}
		found, err := e.compareWithNode(ctx, cl, a.state)
		if err != nil {
			return fmt.Errorf("FAILED: %w", err)
		}
		if found != "" {
			e.printf("%s\n", found)
		}
		resp, err := cl.API.GetCheckpoint(ctx, &mvmv1.GetCheckpointRequest{})
		if err != nil {
			return err
		}
		signed, err := a.run(ctx, cl, resp.Checkpoint, consistencyProof(ctx, cl))
		if err != nil || c.noCosign || c.statePath == "" {
			return err
		}
		return a.cosign(ctx, cl, signed)
	})
}

// collectLessOften sets the audit's garbage collector, unless GOGC or
// GOMEMLIMIT say otherwise: an audit allocates briskly (every leaf and
// payload decoded, every sealed body opened) over a live heap of a few
// tens of MB, so that at the default GOGC=100 the collector took about a
// fifth of its CPU. GOGC=400 collects a quarter as often; the soft limit
// of 256 MiB keeps the heap bounded whatever the log's size (past it the
// runtime collects sooner). docs/PERFORMANCE.md, "Audit with --key".
func collectLessOften() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(400)
	}
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(256 << 20)
	}
}
