package cli

import (
	"context"
	"flag"
	"fmt"

	"github.com/mvm-exchange/mvm/client/mvmclient"
	"github.com/mvm-exchange/mvm/internal/atomicfile"
	"github.com/mvm-exchange/mvm/internal/audit"
	"github.com/mvm-exchange/mvm/internal/entry"
	"github.com/mvm-exchange/mvm/internal/tlog"
	mvmv1 "github.com/mvm-exchange/mvm/proto/mvm/v1"
)

func init() {
	var out string
	register(&registered{
		longRunning: true,
		name:        "export", args: "--out FILE",
		summary: "write an offline audit bundle: entries, signer certificates, checkpoint and cosignatures",
		flags:   func(fs *flag.FlagSet) { fs.StringVar(&out, "out", "", "bundle file to write (required)") },
		run: func(e *env, fs *flag.FlagSet, args []string) error {
			if err := exactly(0, args, "no positional arguments"); err != nil {
				return err
			}
			if out == "" {
				return usagef("--out FILE is required")
			}
			return e.withClient(func(ctx context.Context, c *mvmclient.Client) error {
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
