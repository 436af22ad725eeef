package server

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/mod/sumdb/note"

	"github.com/mvm-exchange/mvm/client/mvmclient"
	"github.com/mvm-exchange/mvm/internal/node"
	"github.com/mvm-exchange/mvm/internal/restore"
	"github.com/mvm-exchange/mvm/internal/tlog"
)

// RestoreFrom is where `server --restore-from` reads the log.
type RestoreFrom struct {
	// Addr is the source server (a mediator node), host:port.
	Addr string
	// As is the identity to read as: CertsDir/As.crt and .key (any party
	// identity of the agreement may read the whole log).
	As string
	// ServerCA verifies the source's TLS certificate (default
	// CertsDir/ca-server.crt).
	ServerCA string
}

// Restore rebuilds cfg.DB, which must not hold a database, from the log
// the server at from.Addr serves (package restore), with cfg's genesis
// agreement and log signing key. Start a server on cfg.DB afterwards.
func Restore(ctx context.Context, cfg Config, from RestoreFrom) (*restore.Report, error) {
	cfg.defaults()
	if from.As == "" {
		return nil, errors.New("--restore-as: name the identity to read the source as (a file NAME.crt in --certs)")
	}
	genesis, err := os.ReadFile(cfg.Agreement)
	if err != nil {
		return nil, fmt.Errorf("the genesis agreement, against which the source is verified: %w", err)
	}
	skey, err := os.ReadFile(cfg.LogKey)
	if err != nil {
		return nil, fmt.Errorf("log signing key: %w (the restored primary signs with it)", err)
	}
	signer, err := tlog.NewSigner(strings.TrimSpace(string(skey)))
	if err != nil {
		return nil, fmt.Errorf("log signing key %s: %w", cfg.LogKey, err)
	}
	o := mvmclient.FromCertsDir(from.Addr, cfg.CertsDir, from.As)
	if from.ServerCA != "" {
		o.ServerCA = from.ServerCA
	}
	c, err := mvmclient.Dial(o)
	if err != nil {
		return nil, fmt.Errorf("--restore-from %s: %w", from.Addr, err)
	}
	defer c.Close()
	if err := os.MkdirAll(filepath.Dir(cfg.DB), 0o700); err != nil {
		return nil, err
	}
	rep, err := restore.Run(ctx, restore.Options{Source: restore.Server{C: c}, DB: cfg.DB, Genesis: genesis,
		Signer: signer, Logger: cfg.Logger})
	if err != nil {
		return rep, err
	}
	if rep.EvidenceMissing, rep.Holds, err = restoreEvidence(ctx, cfg, c, signer, genesis); err != nil {
		return rep, fmt.Errorf("the log is restored in %s, its evidence files are not: %w (start the server on it, and copy them: run the restore's evidence copy again by restoring into a new file, or copy the node's store)", cfg.DB, err)
	}
	return rep, nil
}

// restoreEvidence copies every evidence file the restored log names from
// the source into the evidence store cfg names (node.EvidenceCopier, as a
// node copies them: a file is kept only whole and matching its logged
// digest; one already stored is not copied again), and returns how many
// could not be copied: the source does not hold them, serves other bytes,
// or does not let the identity read them (a mediator's reads every
// package). It then records the parties' evidence holds, the count
// behind their quota, from the log and the files stored
// (restore.EvidenceHolds).
func restoreEvidence(ctx context.Context, cfg Config, c *mvmclient.Client, signer note.Signer, genesis []byte) (int, *restore.Holds, error) {
	st, l, err := openLog(cfg, signer, genesis, hooks{})
	if err != nil {
		return 0, nil, err
	}
	defer st.Close()
	defer l.Close()
	ev, where, err := openEvidence(cfg)
	if err != nil {
		return 0, nil, err
	}
	cp := node.NewEvidenceCopier(l, ev, c, cfg.Logger)
	// Passes until every file is stored or a pass stores none.
	prev := -1
	n := 0
	for {
		if err := cp.Pass(ctx); err != nil {
			return 0, nil, err
		}
		n = cp.Pending()
		if n != 0 && n != prev {
			prev = n
			continue
		}
		break
	}
	if n > 0 {
		cfg.Logger.Warn("restore: evidence files not copied (the ERROR/WARN lines above name them)", "missing", n, "store", where)
	}
	if err := ctx.Err(); err != nil {
		return n, nil, err
	}
	holds, err := restore.EvidenceHolds(ctx, l, ev)
	if err != nil {
		return n, nil, fmt.Errorf("the parties' evidence holds (their quota): %w", err)
	}
	for party, b := range holds.Bytes {
		cfg.Logger.Info("restore: evidence held", "party", party, "files", holds.Files[party], "bytes", b)
	}
	return n, holds, nil
}
