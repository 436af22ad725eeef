package cli

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"runtime/pprof"
	"time"

	"github.com/mvm-exchange/mvm/client/mvmclient"
	"github.com/mvm-exchange/mvm/internal/atomicfile"
	"github.com/mvm-exchange/mvm/internal/bench"
)

// benchCmd drives the server with real signed appends (internal/bench),
// after checking that the log holds nothing but bench's own work
// (benchlog.go).
type benchCmd struct {
	duration                    time.Duration
	concurrency, payload, conns int
	asJSON, unary, force        bool
	receipts, cpuProfile        string
	maxAppends                  int64
	mix, responderAs            string
	pool                        int
}

func (c *benchCmd) register(fs *flag.FlagSet) {
	fs.DurationVar(&c.duration, "duration", 10*time.Second, "how long to run")
	fs.IntVar(&c.concurrency, "concurrency", 64, "concurrent appends in flight")
	fs.IntVar(&c.payload, "payload-bytes", 512, "serialized payload size")
	fs.IntVar(&c.conns, "connections", 4, "TLS connections to spread the load over")
	fs.BoolVar(&c.asJSON, "json", false, "print the result as one JSON object")
	fs.StringVar(&c.receipts, "receipts", "", "write one JSON line per acknowledged append (index, message_id) to FILE")
	fs.Int64Var(&c.maxAppends, "max", 0, "stop after this many appends (0: no limit)")
	fs.BoolVar(&c.unary, "unary", false, "one Append call per envelope instead of an append stream per worker")
	fs.StringVar(&c.cpuProfile, "cpu-profile", "", "write the load generator's CPU profile over the timed part (not the --packages submitted before it) to FILE")
	fs.BoolVar(&c.force, "force", false, "write into a log that holds work bench did not write")
	fs.StringVar(&c.mix, "mix", "package=1", "the workflow of each package: `KIND=N,...` of package (0 or 1), ack (0 or 1), rfi (0-16), report (0 or 1), e.g. package=1,ack=1,report=1,rfi=2; with package=0 the messages go to packages submitted before the clock starts")
	fs.StringVar(&c.responderAs, "responder-as", "af-interior", "identity that sends the responder's messages of --mix")
	fs.IntVar(&c.pool, "packages", 10000, "with --mix package=0: packages submitted before the clock starts (a worker stops when they run out)")
}

func (c *benchCmd) run(e *env, args []string) (rerr error) {
	if err := exactly(0, args, "no positional arguments"); err != nil {
		return err
	}
	if e.as == "" {
		e.as = "pk-liaison"
	}
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(400) // the load generator should not be the bottleneck
	}
	mix, err := bench.ParseMix(c.mix)
	if err != nil {
		return usagef("--mix: %v", err)
	}
	if c.pool <= 0 {
		return usagef("--packages %d: want at least 1", c.pool)
	}
	o := bench.Options{Duration: c.duration, Concurrency: c.concurrency, PayloadBytes: c.payload, MaxAppends: c.maxAppends, Unary: c.unary,
		Mix: mix, Pool: c.pool}
	o.PoolDone = func() {
		// Scripts take the server's CPU from here (scripts/bench-sealed.sh).
		fmt.Fprintf(e.stderr, "bench: %d packages submitted, the clock starts\n", c.pool)
	}
	dial := func(as string) (*mvmclient.Client, error) {
		opts := mvmclient.FromCertsDir(e.server, e.certs, as)
		opts.Retries = -1
		return e.dialWith(opts)
	}
	for range max(1, c.conns) {
		cl, err := dial(e.as)
		if err != nil {
			return err
		}
		defer cl.Close()
		o.Clients = append(o.Clients, cl)
		if mix == bench.PackagesOnly {
			continue
		}
		rc, err := dial(c.responderAs)
		if err != nil {
			return fmt.Errorf("--responder-as: %w", err)
		}
		defer rc.Close()
		o.Responders = append(o.Responders, rc)
	}
	if !c.force {
		if err := e.checkBenchLog(e.ctx, o.Clients[0]); err != nil {
			return err
		}
	}
	if o.Sealing, err = e.benchSealing(o.Clients[0], o.Responders); err != nil {
		return err
	}
	var receiptsFile *atomicfile.File
	if c.receipts != "" {
		f, err := atomicfile.Create(c.receipts)
		if err != nil {
			return fmt.Errorf("--receipts: %w", err)
		}
		defer f.Abort()
		o.Receipts, receiptsFile = f, f
	}
	if c.cpuProfile != "" {
		f, err := atomicfile.Create(c.cpuProfile)
		if err != nil {
			return fmt.Errorf("--cpu-profile: %w", err)
		}
		defer f.Abort()
		o.CPUProfile = f
		defer func() {
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
	if c.asJSON {
		b, _ := json.Marshal(res)
		e.printf("%s\n", b)
	} else {
		res.Print(e.stdout)
	}
	if res.Errors > 0 {
		return fmt.Errorf("%d appends failed (first: %s)", res.Errors, res.FirstError)
	}
	return nil
}

// startProfile starts the CPU profile MVM_CPU_PROFILE names, for measuring
// the client side of bench (docs/PERFORMANCE.md), and returns what stops
// it and keeps the file. No profile is taken when the file cannot be
// begun.
func startProfile(stderr io.Writer) (stop func()) {
	path := os.Getenv("MVM_CPU_PROFILE")
	if path == "" {
		return func() {}
	}
	f, err := atomicfile.Create(path)
	if err != nil {
		return func() {}
	}
	if pprof.StartCPUProfile(f) != nil {
		f.Abort()
		return func() {}
	}
	return func() {
		pprof.StopCPUProfile()
		if err := f.Commit(); err != nil {
			fmt.Fprintf(stderr, "client: MVM_CPU_PROFILE: %v\n", err)
		}
	}
}
