package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"os/signal"
	"slices"
	"syscall"

	"github.com/mvm-exchange/mvm/internal/server"
)

// restoreFlags are the flags of `server --restore-from`: rebuild --db from
// a node, check it as --verify-db does, print what was restored and exit.
type restoreFlags struct {
	from server.RestoreFrom
}

func (f *restoreFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.from.Addr, "restore-from", "", "rebuild the database --db (a new file) from the log the server at `ADDR` (a mediator node) serves, every entry verified before it is stored, then exit")
	fs.StringVar(&f.from.As, "restore-as", "", "with --restore-from, the identity `NAME` in --certs to read the log as (NAME.crt, NAME.key)")
	fs.StringVar(&f.from.ServerCA, "restore-server-ca", "", "with --restore-from, the CA `FILE` of the source's TLS certificate (default CERTS/ca-server.crt)")
}

// run restores and returns the exit code.
func (f *restoreFlags) run(cfg server.Config) int {
	cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, nil))
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	rep, err := server.Restore(ctx, cfg, f.from)
	if err != nil {
		fmt.Fprintln(os.Stderr, "server: restore:", err)
		return 1
	}
	fmt.Printf("restored %s from %s: %d entries, %d checkpoints up to size %d, witnessed size %d, %d cosignatures (%d dropped), checked as --verify-db does, in %s\n",
		cfg.DB, f.from.Addr, rep.Size, rep.Checkpoints, rep.Size, rep.Witnessed, rep.Cosignatures, rep.Dropped, rep.Took.Round(1e6))
	if rep.EvidenceMissing > 0 {
		fmt.Printf("evidence files: %d named in the log not copied (not on the source, other bytes than logged, or not readable as --restore-as: a mediator identity reads every package's); every other one copied and checked against its logged digest\n", rep.EvidenceMissing)
	} else {
		fmt.Printf("evidence files: every one the log names copied and checked against its logged digest\n")
	}
	if rep.Holds != nil {
		parties := slices.Sorted(maps.Keys(rep.Holds.Bytes))
		for _, p := range parties {
			fmt.Printf("evidence quota: party %s holds %d bytes in %d files (server --evidence-max-party-bytes counts them)\n", p, rep.Holds.Bytes[p], rep.Holds.Files[p])
		}
	}
	fmt.Printf("start the server on it: server --db %s\n", cfg.DB)
	return 0
}
