// Command server runs the MVM Exchange server.
//
//	go run ./server [--listen 127.0.0.1:7443] [--db data/mvm.db] [--certs certs] [--crl FILE ...] [--operator URI ...]
//	go run ./server --verify-db FILE
//	go run ./server --restore-from 127.0.0.1:7444 --restore-as tr-verifier --db data/restored.db
//	go run ./server --metrics 127.0.0.1:9464 --log-format json --reflection
//	go run ./server --witness witness.example/w1=http://127.0.0.1:7380
//	go run ./server --witness tr-node=https://127.0.0.1:7445 --sync-witnesses 1
//	go run ./server --follow 127.0.0.1:7443 --as tr-node --listen 127.0.0.1:7444 --db data/tr-node.db
//	go run ./server --follow 127.0.0.1:7443 --as qa-node --listen 127.0.0.1:7446 --db data/qa-node.db --peer 127.0.0.1:7444
//
// A primary serves with CERTS/server.crt, a node (--follow --as NAME) with
// its own CERTS/NAME-server.crt, never the primary's; --tls-cert and
// --tls-key choose others. SIGHUP (or a change to one of the files,
// checked every --reload-interval) reloads the server's TLS certificate
// and key and the CRLs without a restart; SIGINT and SIGTERM stop it
// gracefully.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"strconv"
	"syscall"
	"time"

	"github.com/mvm-exchange/mvm/internal/dbcheck"
	"github.com/mvm-exchange/mvm/internal/server"
	"github.com/mvm-exchange/mvm/internal/service"
	"github.com/mvm-exchange/mvm/internal/witness"
)

func main() {
	var cfg server.Config
	flag.StringVar(&cfg.Listen, "listen", "127.0.0.1:7443", "address to listen on")
	flag.StringVar(&cfg.DB, "db", "data/mvm.db", "bbolt database file")
	flag.StringVar(&cfg.CertsDir, "certs", "certs", "directory of the PKI made by scripts/gen-certs.sh")
	flag.StringVar(&cfg.TLSCert, "tls-cert", "", "the server's TLS certificate `FILE`, PEM, issued by the CA clients trust (default CERTS/server.crt; with --follow --as NAME, the node's own CERTS/NAME-server.crt); reloaded when it changes")
	flag.StringVar(&cfg.TLSKey, "tls-key", "", "the key `FILE` of --tls-cert, PEM (default CERTS/server.key; with --follow --as NAME, CERTS/NAME-server.key)")
	flag.StringVar(&cfg.Agreement, "agreement", "", "genesis agreement envelope for an empty log (default CERTS/agreement.envelope)")
	flag.StringVar(&cfg.LogKey, "log-key", "", "checkpoint signing key (default CERTS/log.key)")
	flag.Float64Var(&cfg.Limits.AppendRate, "rate-limit", 0, "appends per second per identity (0: unlimited)")
	flag.IntVar(&cfg.Limits.AppendBurst, "rate-burst", 0, "appends an identity may send at once (default: one second's worth)")
	flag.DurationVar(&cfg.Limits.CallTimeout, "call-timeout", 30*time.Second, "deadline of calls that arrive without one")
	flag.Func("max-streams", "concurrent calls per connection (default 256)", func(v string) error {
		n, err := strconv.ParseUint(v, 10, 32)
		cfg.MaxStreams = uint32(n)
		return err
	})
	flag.IntVar(&cfg.Limits.MaxStreamsPerIdentity, "max-streams-per-identity", service.DefaultMaxStreamsPerIdentity,
		"concurrent read streams (GetEntries, Watch, Backup) of one identity (negative: unlimited)")
	flag.IntVar(&cfg.Limits.MaxConnsPerIdentity, "max-conns-per-identity", service.DefaultMaxConnsPerIdentity,
		"open connections of one identity (negative: unlimited)")
	flag.IntVar(&cfg.Limits.MaxReadsPerIdentity, "max-reads-per-identity", service.DefaultMaxReadsPerIdentity,
		"paged reads (list, breaches, show) of one identity worked on at once; more wait (negative: unlimited)")
	flag.IntVar(&cfg.Limits.MaxQueuedReadsPerIdentity, "max-queued-reads-per-identity", service.DefaultMaxQueuedReadsPerIdentity,
		"paged reads of one identity that may wait for a slot; more are refused (negative: unlimited)")
	flag.IntVar(&cfg.Limits.MaxReadsPerParty, "max-reads-per-party", service.DefaultMaxReadsPerParty,
		"paged reads of one party, whatever its identities, worked on at once; more wait (negative: unlimited)")
	flag.IntVar(&cfg.Limits.MaxQueuedReadsPerParty, "max-queued-reads-per-party", service.DefaultMaxQueuedReadsPerParty,
		"paged reads of one party that may wait for a slot; more are refused (negative: unlimited)")
	flag.IntVar(&cfg.Limits.MaxReads, "max-reads", service.DefaultMaxReads(),
		"paged reads of all parties worked on at once, the parties taken in turn (default: half the CPUs; negative: unlimited)")
	flag.Float64Var(&cfg.Limits.ReadRatePerParty, "read-rate-per-party", service.DefaultReadRatePerParty,
		"paged reads of one party a second (as many in a burst); more wait, and beyond their deadline are refused (negative: unpaced)")
	flag.IntVar(&cfg.Limits.MaxHandshakes, "max-handshakes", service.DefaultMaxHandshakes,
		"TLS handshakes in progress on the server; more wait within their handshake time (negative: unlimited)")
	flag.IntVar(&cfg.Limits.MaxHandshakesPerAddr, "max-handshakes-per-addr", service.DefaultMaxHandshakesPerAddr,
		"TLS handshakes in progress from one source address; more wait (negative: unlimited)")
	flag.IntVar(&cfg.Limits.MaxQueuedHandshakesPerAddr, "max-queued-handshakes-per-addr", service.DefaultMaxQueuedHandshakesPerAddr,
		"TLS handshakes from one source address that may wait for a slot; more are closed at once (negative: unlimited)")
	flag.DurationVar(&cfg.Limits.HandshakeTimeout, "handshake-timeout", service.DefaultHandshakeTimeout,
		"time from a connection's accept to the end of its TLS handshake, waiting for a slot included")
	flag.DurationVar(&cfg.Limits.StallTimeout, "stall-timeout", service.DefaultStallTimeout,
		"end a read stream whose client takes no message for this long (it resumes from where it was)")
	flag.Func("crl", "a party CA's certificate revocation list, DER or PEM (repeatable; default: every CERTS/crl-<party>.pem that exists)", func(v string) error {
		cfg.CRLs = append(cfg.CRLs, v)
		return nil
	})
	flag.DurationVar(&cfg.ReloadInterval, "reload-interval", server.DefaultReloadInterval,
		"how often to check the certificate, key and CRL files for changes and reload them (0: only on SIGHUP)")
	logLevel := flag.String("log-level", "info", "debug, info, warn or error")
	logFormat := flag.String("log-format", "text", "text or json (slog; README lists the keys)")
	flag.StringVar(&cfg.Metrics, "metrics", "", "serve Prometheus metrics over plain HTTP on `ADDR`/metrics (loopback or an operator network; default: off)")
	flag.StringVar(&cfg.Evidence.Dir, "evidence-dir", "", "directory of the evidence files (default: evidence/ beside --db)")
	flag.StringVar(&cfg.Evidence.S3, "evidence-s3", "", "keep evidence files in an S3 bucket instead, `https://HOST:PORT/BUCKET` (http:// on a trusted network; credentials from AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_REGION)")
	flag.Int64Var(&cfg.Evidence.Limits.MaxBytes, "evidence-max-bytes", service.DefaultEvidenceMaxBytes, "largest evidence file, in bytes")
	flag.Int64Var(&cfg.Evidence.Limits.MaxPackageBytes, "evidence-max-package-bytes", service.DefaultEvidenceMaxPackageBytes, "most bytes of evidence files per package")
	flag.IntVar(&cfg.Evidence.Limits.MaxUploads, "evidence-max-uploads", service.DefaultEvidenceMaxUploads, "evidence uploads one party may have under way at once, all its identities together")
	flag.DurationVar(&cfg.Evidence.Limits.IdleTimeout, "evidence-idle-timeout", service.DefaultEvidenceIdleTimeout,
		"end an evidence upload whose client sends nothing for this long (what the store holds of it is kept, to resume), so that it does not hold an upload slot")
	flag.Int64Var(&cfg.Evidence.Limits.MaxPartyBytes, "evidence-max-party-bytes", service.DefaultEvidenceMaxPartyBytes,
		"most bytes of evidence files one party may hold, stored and being uploaded, over all packages; counted in the database, so across restarts (negative: unlimited)")
	flag.BoolVar(&cfg.Reflection, "reflection", false, "serve the gRPC reflection service (behind mTLS, to any party of the agreement)")
	cpuProfile := flag.String("cpu-profile", "", "write a CPU profile to FILE until the server stops")
	memProfile := flag.String("mem-profile", "", "write a heap profile to FILE when the server is asked to stop")
	rebuild := flag.Bool("rebuild-indexes", false, "recompute the database's indexes from its entries, then exit")
	flag.Func("operator", "SPIFFE `URI` of an operator identity, which may take backups (repeatable; default: nobody)", func(v string) error {
		cfg.Operators = append(cfg.Operators, v)
		return nil
	})
	flag.Func("witness", "push each new checkpoint to the C2SP witness `NAME=URL` (http:// or https://; repeatable); the agreement must list NAME and its key", func(v string) error {
		t, err := witness.ParseTarget(v)
		cfg.Witnesses = append(cfg.Witnesses, t)
		return err
	})
	flag.IntVar(&cfg.SyncWitnesses, "sync-witnesses", 0, "answer an append only once `N` of the --witness witnesses (mediator nodes) have cosigned a checkpoint covering it (0: off; Unavailable after --sync-timeout, the entry logged)")
	flag.DurationVar(&cfg.SyncTimeout, "sync-timeout", server.DefaultSyncTimeout, "with --sync-witnesses, how long an append waits for the cosignatures before it is answered Unavailable")
	var rf restoreFlags
	rf.register(flag.CommandLine)
	flag.StringVar(&cfg.Node.Follow, "follow", "", "run as a mediator node: follow the primary at `ADDR`, verify every entry, store a copy in --db and serve its reads (appends are refused, naming the primary)")
	flag.StringVar(&cfg.Node.As, "as", "", "with --follow: the node's client identity `NAME` in --certs (NAME.crt, NAME.key), e.g. tr-node")
	flag.Func("peer", "with --follow: another node at `ADDR` whose latest checkpoint this node compares with its own (repeatable); a fork proven is written beside --db and alarmed", func(v string) error {
		cfg.Node.Peers = append(cfg.Node.Peers, v)
		return nil
	})
	flag.Uint64Var(&cfg.Node.Piece, "piece", 0, "with --follow: the entries a node copies, verifies and commits together, at most (0: 4,096); the heap holds about two pieces: raise GOMEMLIMIT (default 160MiB) with it")
	flag.StringVar(&cfg.Node.WitnessListen, "witness-listen", "", "with --follow: serve the C2SP tlog-witness add-checkpoint endpoint on `ADDR` over HTTPS with mutual TLS, to the primary only (a client certificate of CERTS/ca-server.crt for client authentication naming the --follow host); cosigns only what the node verified")
	flag.StringVar(&cfg.Node.WitnessKey, "witness-key", "", "with --witness-listen: the node's cosignature/v1 signing key `FILE` (default CERTS/<--as>.cosign.key)")
	verifyDB := flag.String("verify-db", "", "check the database `FILE` offline and read-only, print every damage, then exit (1 if damaged); also: server verify-db FILE")
	flag.Usage = usage
	flag.Parse()
	if flag.NArg() == 2 && flag.Arg(0) == "verify-db" {
		*verifyDB = flag.Arg(1)
	}
	if *verifyDB != "" {
		os.Exit(dbcheck.Main(*verifyDB, os.Stdout, os.Stderr))
	}
	if cfg.ReloadInterval == 0 {
		cfg.ReloadInterval = -1 // Config: negative = never
	}
	if os.Getenv("GOGC") == "" {
		// The append path allocates briskly and the heap stays small:
		// collecting less often buys ~15% throughput (docs/PERFORMANCE.md).
		debug.SetGCPercent(400)
	}
	if os.Getenv("GOMEMLIMIT") == "" {
		// A soft limit: at GOGC=400 the heap may grow to five times the
		// live heap before a collection, so appends during a hold of many
		// unread streams took the RSS to the 256 MB bound (issue 13); past
		// 160 MiB the runtime collects sooner instead. The live heap is a
		// few tens of MB, so the limit binds only then; were the live
		// heap above it, the runtime would spend at most ~50% of the CPU
		// collecting and let the heap grow (docs/PERFORMANCE.md).
		debug.SetMemoryLimit(160 << 20)
	}
	if os.Getenv("GOMAXPROCS") == "" {
		// One P more than the CPUs: the log's writer spends most of a
		// commit in fdatasync, and a goroutine back from a blocking system
		// call with every P busy queues behind the handlers; with a spare
		// P it goes on at once (7 of 9 side-by-side runs faster, +5 %;
		// docs/PERFORMANCE.md).
		runtime.GOMAXPROCS(runtime.GOMAXPROCS(0) + 1)
	}
	if rf.from.Addr != "" {
		os.Exit(rf.run(cfg))
	}
	if *rebuild {
		if err := server.RebuildIndexes(cfg.DB); err != nil {
			fmt.Fprintln(os.Stderr, "server: rebuild indexes:", err)
			os.Exit(1)
		}
		fmt.Println("indexes rebuilt:", cfg.DB)
		return
	}
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err == nil {
			err = pprof.StartCPUProfile(f)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "server: --cpu-profile:", err)
			os.Exit(2)
		}
		defer pprof.StopCPUProfile()
	}

	logger, err := newLogger(os.Stderr, *logFormat, *logLevel)
	if err != nil {
		fmt.Fprintln(os.Stderr, "server:", err)
		os.Exit(2)
	}
	cfg.Logger = logger

	// Signals are caught before the server starts: it logs "serving" from
	// inside Start, and a SIGHUP sent on that cue (systemd's ExecReload, a
	// script) would otherwise kill it with the default action. Those that
	// arrive while it starts are handled once it has.
	sig := make(chan os.Signal, 4)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	s, err := server.Start(cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, "server:", err)
		os.Exit(1)
	}
	stopped := waitErr(s)
wait:
	for {
		select {
		case got := <-sig:
			if got == syscall.SIGHUP {
				cfg.Logger.Info("reloading the certificate and CRLs", "signal", got.String())
				_ = s.Reload() // logged
				continue
			}
			cfg.Logger.Info("stopping", "signal", got.String())
			break wait
		case err := <-stopped:
			cfg.Logger.Error("server stopped", "err", err)
			break wait
		}
	}
	if *memProfile != "" {
		if err := writeHeapProfile(*memProfile); err != nil {
			fmt.Fprintln(os.Stderr, "server: --mem-profile:", err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.Stop(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "server: stop:", err)
		pprof.StopCPUProfile()
		os.Exit(1)
	}
}

// usage is -h: the command's name, not the path of a go build.
func usage() {
	fmt.Fprintf(flag.CommandLine.Output(), "Usage: server [flags]\n       server verify-db FILE\n\nFlags:\n")
	flag.PrintDefaults()
}

// newLogger is the server's log on w: slog's text or JSON handler at a
// level.
func newLogger(w io.Writer, format, level string) (*slog.Logger, error) {
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level: %w", err)
	}
	opts := &slog.HandlerOptions{Level: lvl}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("--log-format %q: want text or json", format)
}

// writeHeapProfile writes the live heap (after a collection) to path.
func writeHeapProfile(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	runtime.GC()
	if err := pprof.WriteHeapProfile(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func waitErr(s *server.Server) <-chan error {
	ch := make(chan error, 1)
	go func() { ch <- s.Wait() }()
	return ch
}
