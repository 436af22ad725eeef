// Command server runs the MVM Exchange server.
//
//	go run ./server [--listen 127.0.0.1:7443] [--db data/mvm.db] [--certs certs]
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"runtime/debug"
	"runtime/pprof"
	"strconv"
	"syscall"
	"time"

	"github.com/mvm-exchange/mvm/internal/server"
)

func main() {
	var cfg server.Config
	flag.StringVar(&cfg.Listen, "listen", "127.0.0.1:7443", "address to listen on")
	flag.StringVar(&cfg.DB, "db", "data/mvm.db", "bbolt database file")
	flag.StringVar(&cfg.CertsDir, "certs", "certs", "directory of the PKI made by scripts/gen-certs.sh")
	flag.StringVar(&cfg.Agreement, "agreement", "", "genesis agreement envelope for an empty log (default CERTS/agreement.envelope)")
	flag.StringVar(&cfg.LogKey, "log-key", "", "checkpoint signing key (default CERTS/log.key)")
	flag.Float64Var(&cfg.Limits.AppendRate, "rate-limit", 0, "appends per second per identity (0: unlimited)")
	flag.IntVar(&cfg.Limits.AppendBurst, "rate-burst", 0, "appends an identity may send at once (default: one second's worth)")
	flag.DurationVar(&cfg.Limits.CallTimeout, "call-timeout", 30*time.Second, "deadline of calls that arrive without one")
	flag.DurationVar(&cfg.ClockSkew, "clock-skew", 5*time.Minute, "largest accepted difference between an author's timestamp and the server's clock")
	flag.Func("max-streams", "concurrent calls per connection (default 256)", func(v string) error {
		n, err := strconv.ParseUint(v, 10, 32)
		cfg.MaxStreams = uint32(n)
		return err
	})
	logLevel := flag.String("log-level", "info", "debug, info, warn or error")
	cpuProfile := flag.String("cpu-profile", "", "write a CPU profile to FILE until the server stops")
	rebuild := flag.Bool("rebuild-indexes", false, "recompute the database's indexes from its entries, then exit")
	flag.Parse()
	if os.Getenv("GOGC") == "" {
		// The append path allocates briskly and the heap stays small:
		// collecting less often buys ~15% throughput (docs/PERFORMANCE.md).
		debug.SetGCPercent(400)
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

	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		fmt.Fprintln(os.Stderr, "server: --log-level:", err)
		os.Exit(2)
	}
	cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))

	s, err := server.Start(cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, "server:", err)
		os.Exit(1)
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	select {
	case got := <-sig:
		cfg.Logger.Info("stopping", "signal", got.String())
	case err := <-waitErr(s):
		cfg.Logger.Error("server stopped", "err", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.Stop(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "server: stop:", err)
		pprof.StopCPUProfile()
		os.Exit(1)
	}
}

func waitErr(s *server.Server) <-chan error {
	ch := make(chan error, 1)
	go func() { ch <- s.Wait() }()
	return ch
}
