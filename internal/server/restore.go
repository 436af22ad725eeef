package server

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/mvm-exchange/mvm/client/mvmclient"
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
	return restore.Run(ctx, restore.Options{Source: restore.Server{C: c}, DB: cfg.DB, Genesis: genesis,
		Signer: signer, Logger: cfg.Logger})
}
