package cli

import (
	"context"
	"flag"
	"fmt"
	"os"

	"github.com/mvm-exchange/mvm/client/mvmclient"
	"github.com/mvm-exchange/mvm/internal/atomicfile"
	"github.com/mvm-exchange/mvm/internal/audit"
	"github.com/mvm-exchange/mvm/internal/entry"
	"github.com/mvm-exchange/mvm/internal/tlog"
	mvmv1 "github.com/mvm-exchange/mvm/proto/mvm/v1"
)

func init() {
	var logKey string
	register(&command{
		name: "verify-receipt", args: "FILE [--log-key FILE]", identityOptional: true,
		summary: "verify a receipt offline: log signature, inclusion proof, and the logged entry",
		flags: func(fs *flag.FlagSet) {
			fs.StringVar(&logKey, "log-key", "", "pinned log verifier key (default CERTS/log.vkey)")
		},
		run: func(e *env, fs *flag.FlagSet, args []string) error {
			if err := exactly(1, args, "the receipt FILE"); err != nil {
				return err
			}
			v, err := e.logVerifier(logKey)
			if err != nil {
				return err
			}
			b, err := os.ReadFile(args[0])
			if err != nil {
				return err
			}
			r, err := tlog.VerifyReceipt(b, v.Name(), v)
			if err != nil {
				return fmt.Errorf("receipt does not verify: %w", err)
			}
			e.printf("receipt OK: entry %d is in %s at size %d (root %x)\n", r.Index, r.Checkpoint.Origin, r.Checkpoint.Size, r.Checkpoint.Hash)
			if ent, err := entry.DecodeLeaf(r.Leaf); err == nil && ent.Index == r.Index {
				e.printf("%s\n", describeEntry(r.Index, r.Leaf))
			} else {
				return fmt.Errorf("receipt verifies, but its leaf is not entry %d of this log", r.Index)
			}
			return nil
		},
	})

	var size uint64
	var witnessed bool
	register(&command{
		name: "checkpoint", args: "[--size N] [--witnessed]",
		summary: "print a signed checkpoint with its mediator cosignatures (signed-note text)",
		flags: func(fs *flag.FlagSet) {
			fs.Uint64Var(&size, "size", 0, "the checkpoint of this size (default the latest)")
			fs.BoolVar(&witnessed, "witnessed", false, "the latest checkpoint cosigned by the witness quorum")
		},
		run: func(e *env, fs *flag.FlagSet, args []string) error {
			if err := exactly(0, args, "no positional arguments"); err != nil {
				return err
			}
			v, err := e.logVerifier("")
			if err != nil {
				return err
			}
			return e.withClient(func(ctx context.Context, c *mvmclient.Client) error {
				resp, err := c.API.GetCheckpoint(ctx, &mvmv1.GetCheckpointRequest{Size: size, Witnessed: witnessed})
				if err != nil {
					return err
				}
				if _, _, err := tlog.OpenCheckpoint(resp.Checkpoint, v.Name(), v); err != nil {
					return fmt.Errorf("the server's checkpoint does not verify: %w", err)
				}
				// Counted here, under the agreement in force at the
				// checkpoint's size, derived from the log up to it: the
				// server's count and its GetAgreement are not taken.
				ver, err := e.verifiedLog(ctx, c, "", resp.Checkpoint, audit.Options{AgreementsOnly: true})
				if err != nil {
					return err
				}
				n, err := witnesses(resp.Checkpoint, ver.Agreement, v)
				if err != nil {
					return err
				}
				// What was asked for is checked too, not taken on the
				// server's word: the size, and the witness quorum.
				if size != 0 && ver.Checkpoint.Size != size {
					return fmt.Errorf("asked for the checkpoint of size %d, the server sent size %d; nothing printed", size, ver.Checkpoint.Size)
				}
				if witnessed && !ver.Agreement.Witnessed(n) {
					return fmt.Errorf("asked for a witnessed checkpoint, the server sent size %d cosigned by %s; nothing printed",
						ver.Checkpoint.Size, witnessLine(n, ver.Agreement))
				}
				e.printf("%s", resp.Checkpoint)
				fmt.Fprintf(e.stderr, "cosignatures checked against the agreement in force at size %d (index %d): %s\n",
					ver.Checkpoint.Size, ver.Agreement.Index, witnessLine(n, ver.Agreement))
				return nil
			})
		},
	})

	var out, format string
	register(&command{
		longRunning: true,
		name:        "export", args: "--out FILE [--format bundle|stix|geojson]",
		summary: "write an offline audit bundle: entries, signer certificates, checkpoint and cosignatures",
		flags: func(fs *flag.FlagSet) {
			fs.StringVar(&out, "out", "", "bundle file to write (required)")
			fs.StringVar(&format, "format", "bundle", "bundle (an offline audit bundle), stix (a STIX 2.1 bundle) or geojson (RFC 7946)")
		},
		run: func(e *env, fs *flag.FlagSet, args []string) error {
			if err := exactly(0, args, "no positional arguments"); err != nil {
				return err
			}
			if out == "" {
				return usagef("--out FILE is required")
			}
			return e.withClient(func(ctx context.Context, c *mvmclient.Client) error {
				if format != "bundle" {
					return e.exportFormat(ctx, c, format, out)
				}
				return export(ctx, c, out, e)
			})
		},
	})
}

func export(ctx context.Context, c *mvmclient.Client, out string, e *env) error {
	resp, err := c.API.GetCheckpoint(ctx, &mvmv1.GetCheckpointRequest{})
	if err != nil {
		return err
	}
	var cp tlog.Checkpoint
	if _, err := cp.Unmarshal(noteText(resp.Checkpoint)); err != nil {
		return fmt.Errorf("server checkpoint: %w", err)
	}
	f, err := atomicfile.Create(out)
	if err != nil {
		return err
	}
	defer f.Abort()
	w, err := audit.NewBundleWriter(f, cp.Size, resp.Checkpoint)
	if err != nil {
		return err
	}
	fps := map[string]bool{}
	var order [][]byte
	src := c
	err = src.Entries(ctx, 0, cp.Size, func(_ uint64, leaf []byte) error {
		ent, err := entry.DecodeLeaf(leaf)
		if err != nil {
			return err
		}
		if fp := ent.PeerCertificateSha256; len(fp) > 0 && !fps[string(fp)] {
			fps[string(fp)] = true
			order = append(order, fp)
		}
		return w.Leaf(leaf)
	})
	if err != nil {
		return err
	}
	for _, fp := range order {
		der, err := src.Certificate(ctx, fp)
		if err != nil {
			return err
		}
		if err := w.Certificate(der); err != nil {
			return err
		}
	}
	if err := w.Close(); err != nil {
		return err
	}
	if err := f.Commit(); err != nil {
		return err
	}
	e.printf("exported %d entries, %d signer certificates and checkpoint size %d to %s\n", cp.Size, len(order), cp.Size, out)
	return nil
}

// noteText is the body of a signed note (up to the blank line).
func noteText(signed []byte) []byte {
	for i := 0; i+1 < len(signed); i++ {
		if signed[i] == '\n' && signed[i+1] == '\n' {
			return signed[:i+1]
		}
	}
	return signed
}
