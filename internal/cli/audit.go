package cli

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/mvm-exchange/mvm/client/mvmclient"
	"github.com/mvm-exchange/mvm/internal/audit"
	"github.com/mvm-exchange/mvm/internal/entry"
	"github.com/mvm-exchange/mvm/internal/tlog"
	mvmv1 "github.com/mvm-exchange/mvm/proto/mvm/v1"
)

func init() {
	var logKey, genesis string
	var quiet bool
	register(&command{
		name: "audit", args: "[--log-key FILE] [--agreement FILE]",
		summary: "download the whole log and verify every entry, the workflow and the checkpoint",
		flags: func(fs *flag.FlagSet) {
			fs.StringVar(&logKey, "log-key", "", "pinned log verifier key (default CERTS/log.vkey)")
			fs.StringVar(&genesis, "agreement", "", "pinned genesis agreement envelope (default CERTS/agreement.envelope)")
			fs.BoolVar(&quiet, "quiet", false, "no progress lines")
		},
		run: func(e *env, fs *flag.FlagSet, args []string) error {
			if err := exactly(0, args, "no positional arguments"); err != nil {
				return err
			}
			v, err := e.logVerifier(logKey)
			if err != nil {
				return err
			}
			if genesis == "" {
				genesis = filepath.Join(e.certs, "agreement.envelope")
			}
			pinned, err := os.ReadFile(genesis)
			if err != nil {
				return fmt.Errorf("pinned agreement: %w", err)
			}
			return e.withClient(func(ctx context.Context, c *mvmclient.Client) error {
				cpResp, err := c.API.GetCheckpoint(ctx, &mvmv1.GetCheckpointRequest{})
				if err != nil {
					return err
				}
				cp, _, err := tlog.OpenCheckpoint(cpResp.Checkpoint, v.Name(), v)
				if err != nil {
					return fmt.Errorf("server checkpoint: %w", err)
				}
				e.printf("auditing %d entries of %s\n", cp.Size, cp.Origin)
				progress := func(done, total uint64) {
					if !quiet && total >= 10_000 {
						fmt.Fprintf(e.stderr, "audit: %d/%d entries verified\n", done, total)
					}
				}
				rep, err := audit.Run(ctx, serverSource{c}, cp.Size, audit.Options{Progress: progress})
				if err != nil {
					return fmt.Errorf("FAILED: %w", err)
				}
				if err := checkGenesis(ctx, serverSource{c}, pinned); err != nil {
					return fmt.Errorf("FAILED: %w", err)
				}
				if !bytes.Equal(rep.Root, cp.Hash) {
					return fmt.Errorf("FAILED: the entries hash to a root other than the signed checkpoint's (size %d)", cp.Size)
				}
				e.printf("verified %d entries: signatures, certificates, index continuity, workflow\n", rep.Entries)
				e.printf("packages: %d, breaches as of %s: %d\n", len(rep.Packages), stamp(rep.LastTime), len(rep.Breaches))
				e.printf("checkpoint: %s size %d root %x\n", cp.Origin, cp.Size, cp.Hash)
				e.printf("audit: OK\n")
				return nil
			})
		},
	})
}

// checkGenesis compares entry 0's envelope with the pinned agreement: the
// party CAs the audit trusted come from it.
func checkGenesis(ctx context.Context, src audit.Source, pinned []byte) error {
	var got []byte
	err := src.Entries(ctx, 0, 1, func(_ uint64, leaf []byte) error {
		e, err := entry.DecodeLeaf(leaf)
		if err != nil {
			return err
		}
		got = e.Envelope
		return nil
	})
	if err != nil {
		return err
	}
	if !bytes.Equal(got, pinned) {
		return errors.New("entry 0: the genesis agreement is not the pinned one")
	}
	return nil
}

// serverSource reads the log from a server.
type serverSource struct{ c *mvmclient.Client }

func (s serverSource) Entries(ctx context.Context, start, end uint64, fn func(uint64, []byte) error) error {
	if start == end {
		return nil
	}
	stream, err := s.c.API.GetEntries(ctx, &mvmv1.GetEntriesRequest{Start: start, End: end})
	if err != nil {
		return err
	}
	next := start
	for {
		msg, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
		if msg.FirstIndex != next {
			return fmt.Errorf("server sent entries from %d, expected %d", msg.FirstIndex, next)
		}
		for _, leaf := range msg.Leaves {
			if err := fn(next, leaf); err != nil {
				return err
			}
			next++
		}
	}
	if next != end {
		return fmt.Errorf("server sent entries up to %d, expected %d", next, end)
	}
	return nil
}

func (s serverSource) Certificate(ctx context.Context, sha []byte) ([]byte, error) {
	resp, err := s.c.API.GetCertificates(ctx, &mvmv1.GetCertificatesRequest{Sha256: [][]byte{sha}})
	if err != nil {
		return nil, err
	}
	if len(resp.Certificates) != 1 {
		return nil, fmt.Errorf("server returned %d certificates for one fingerprint", len(resp.Certificates))
	}
	return resp.Certificates[0], nil
}
