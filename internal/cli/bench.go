package cli

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"runtime/debug"
	"runtime/pprof"
	"time"

	"github.com/mvm-exchange/mvm/client/mvmclient"
	"github.com/mvm-exchange/mvm/internal/atomicfile"
	"github.com/mvm-exchange/mvm/internal/bench"
)

func init() {
	var duration time.Duration
	var concurrency, payload, conns int
	var asJSON bool
	var receipts string
	var maxAppends int64
	var unary bool
	var cpuProfile string
	var force bool
	register(&registered{
		longRunning: true,
		name:        "bench", args: "[--duration 10s] [--concurrency 64] [--payload-bytes 512] [--connections 4] [--json] [--unary] [--receipts FILE] [--max N] [--cpu-profile FILE] [--force]",
		summary:          "drive the server with real signed appends and report throughput and latency",
		identityOptional: true,
		flags: func(fs *flag.FlagSet) {
			fs.DurationVar(&duration, "duration", 10*time.Second, "how long to run")
			fs.IntVar(&concurrency, "concurrency", 64, "concurrent appends in flight")
			fs.IntVar(&payload, "payload-bytes", 512, "serialized payload size")
			fs.IntVar(&conns, "connections", 4, "TLS connections to spread the load over")
			fs.BoolVar(&asJSON, "json", false, "print the result as one JSON object")
			fs.StringVar(&receipts, "receipts", "", "write one JSON line per acknowledged append (index, message_id) to FILE")
			fs.Int64Var(&maxAppends, "max", 0, "stop after this many appends (0: no limit)")
			fs.BoolVar(&unary, "unary", false, "one Append call per envelope instead of an append stream per worker")
			fs.StringVar(&cpuProfile, "cpu-profile", "", "write the load generator's CPU profile to FILE")
			fs.BoolVar(&force, "force", false, "write into a log that holds work bench did not write")
		},
		run: func(e *env, fs *flag.FlagSet, args []string) (rerr error) {
			if err := exactly(0, args, "no positional arguments"); err != nil {
				return err
			}
			if e.as == "" {
				e.as = "pk-liaison"
			}
			if os.Getenv("GOGC") == "" {
				debug.SetGCPercent(400) // the load generator should not be the bottleneck
			}
			o := bench.Options{Duration: duration, Concurrency: concurrency, PayloadBytes: payload, MaxAppends: maxAppends, Unary: unary}
			for range max(1, conns) {
				opts := mvmclient.FromCertsDir(e.server, e.certs, e.as)
				opts.Retries = -1
				c, err := e.dialWith(opts)
				if err != nil {
					return err
				}
				defer c.Close()
				o.Clients = append(o.Clients, c)
			}
			if !force {
				if err := e.checkBenchLog(e.ctx, o.Clients[0]); err != nil {
					return err
				}
			}
			var receiptsFile *atomicfile.File
			if receipts != "" {
				f, err := atomicfile.Create(receipts)
				if err != nil {
					return fmt.Errorf("--receipts: %w", err)
				}
				defer f.Abort()
				o.Receipts, receiptsFile = f, f
			}
			if cpuProfile != "" {
				f, err := atomicfile.Create(cpuProfile)
				if err != nil {
					return fmt.Errorf("--cpu-profile: %w", err)
				}
				defer f.Abort()
				if err := pprof.StartCPUProfile(f); err != nil {
					return fmt.Errorf("cpu profile: %w", err)
				}
				defer func() {
					pprof.StopCPUProfile()
					if cerr := f.Commit(); cerr != nil && rerr == nil {
						rerr = fmt.Errorf("cpu profile: %w", cerr)
					}
				}()
			}
			res, err := bench.Run(e.ctx, o)
			if err != nil {
				return err
			}
			// The receipts are kept even when appends failed: they are the
			// record of what the server acknowledged (crash tests read it).
			if receiptsFile != nil {
				if err := receiptsFile.Commit(); err != nil {
					return fmt.Errorf("receipts: %w", err)
				}
			}
			if asJSON {
				b, _ := json.Marshal(res)
				e.printf("%s\n", b)
			} else {
				res.Print(e.stdout)
			}
			if res.Errors > 0 {
				return fmt.Errorf("%d appends failed (first: %s)", res.Errors, res.FirstError)
			}
			return nil
		},
	})
}
