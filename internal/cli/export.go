package cli

import (
	"context"
	"fmt"

	"github.com/mvm-exchange/mvm/client/mvmclient"
	"github.com/mvm-exchange/mvm/internal/atomicfile"
	"github.com/mvm-exchange/mvm/internal/audit"
	"github.com/mvm-exchange/mvm/internal/entry"
	"github.com/mvm-exchange/mvm/internal/tlog"
	mvmv1 "github.com/mvm-exchange/mvm/proto/mvm/v1"
)

// export writes the log up to the server's latest checkpoint as a bundle
// (audit.NewBundleWriter), with the certificates of its signers.
func export(ctx context.Context, c *mvmclient.Client, out string, e *env) error {
	resp, err := c.API.GetCheckpoint(ctx, &mvmv1.GetCheckpointRequest{})
	if err != nil {
		return err
	}
	var cp tlog.Checkpoint
	if _, err := cp.Unmarshal(noteText(resp.Checkpoint)); err != nil {
		return fmt.Errorf("server checkpoint: %w", err)
	}
	var order [][]byte
	err = writeOut(out, func(f *atomicfile.File) error {
		w, err := audit.NewBundleWriter(f, cp.Size, resp.Checkpoint)
		if err != nil {
			return err
		}
		fps := map[string]bool{}
		err = c.Entries(ctx, 0, cp.Size, func(_ uint64, leaf []byte) error {
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
			der, err := c.Certificate(ctx, fp)
			if err != nil {
				return err
			}
			if err := w.Certificate(der); err != nil {
				return err
			}
		}
		return w.Close()
	})
	if err != nil {
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
