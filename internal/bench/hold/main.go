// Command hold measures what read streams whose clients never read cost a
// server and the other parties (DESIGN invariant 9). It starts the server
// binary on a new database with a fresh dev PKI, fills the log with
// entries of the largest size a submitter can make, measures the
// submitter's append latency alone, then opens unread GetEntries and
// Watch streams as a mediator (on one connection whose windows stay at
// 64 KiB, the worst case for the server), and measures the server's
// resident memory and the same appends during the hold.
//
//	go build -o /tmp/mvm-server ./server
//	go run ./internal/bench/hold --server /tmp/mvm-server [--entries 3000] [--get-entries 128] [--watches 64] [--breaches 16]
//
// A third phase, after the streams are closed, measures the same appends
// while --breaches mediators ask for one page of breaches each, over and
// over, as of two days later (every package of the log is then breached,
// so each call has a full page to answer). The callers are spread over
// --breach-identities identities of the mediator party tr, minted from
// its CA (the default, one each, is the party that mints identities to
// get a read slot for each: what bounds it is the per-party share).
//
// It prints one JSON object. The server runs as it is deployed (its own
// GOGC and GOMAXPROCS defaults), with --max-streams-per-identity raised
// so that one identity can open every stream: what is measured is the
// bound on each stream, not the limit on their number.
package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/mvm-exchange/mvm/client/mvmclient"
	"github.com/mvm-exchange/mvm/internal/bench"
	"github.com/mvm-exchange/mvm/internal/devpki"
	mvmv1 "github.com/mvm-exchange/mvm/proto/mvm/v1"
)

type result struct {
	Entries     int     `json:"entries"`
	DBBytes     int64   `json:"db_bytes"`
	GetEntries  int     `json:"get_entries_streams"`
	Watches     int     `json:"watch_streams"`
	RSSFilledMB float64 `json:"rss_filled_mb"`
	// RSSHoldIdleMB: the streams sit, nothing else runs; RSSHoldMaxMB:
	// the peak while another party appends during the hold.
	RSSHoldIdleMB float64 `json:"rss_hold_idle_mb"`
	RSSHoldMaxMB  float64 `json:"rss_hold_max_mb"`
	// At the end of the hold: the process's own memory and the pages of
	// the database file it maps (bbolt reads through mmap; those pages are
	// the kernel's page cache, shared and reclaimable).
	RSSAnonEndMB  float64 `json:"rss_anon_end_mb"`
	RSSFileEndMB  float64 `json:"rss_file_end_mb"`
	AloneP99ms    float64 `json:"append_p99_alone_ms"`
	HoldP99ms     float64 `json:"append_p99_hold_ms"`
	P99Ratio      float64 `json:"p99_ratio"`
	AlonePerSec   float64 `json:"appends_per_sec_alone"`
	HoldPerSec    float64 `json:"appends_per_sec_hold"`
	AppendErrors  int64   `json:"append_errors"`
	Concurrency   int     `json:"append_concurrency"`
	PhaseSeconds  float64 `json:"phase_s"`
	StreamsOpened int     `json:"streams_opened"`
	// The breaches phase: concurrent callers, their calls per second and
	// p99, and the appends' p99 during it against alone.
	BreachesCallers    int     `json:"breaches_callers"`
	BreachesIdentities int     `json:"breaches_identities"`
	BreachesPerSec     float64 `json:"breaches_calls_per_sec"`
	BreachesP99ms      float64 `json:"breaches_p99_ms"`
	BreachesErrors     int64   `json:"breaches_errors"`
	AppendBreachP99ms  float64 `json:"append_p99_breaches_ms"`
	BreachesP99Ratio   float64 `json:"p99_ratio_breaches"`
}

func main() {
	serverBin := flag.String("server", "", "server binary (go build -o FILE ./server); required")
	entries := flag.Int("entries", 3000, "entries of the largest size in the log")
	getEntries := flag.Int("get-entries", 128, "unread GetEntries streams")
	watches := flag.Int("watches", 64, "unread Watch streams")
	duration := flag.Duration("duration", 10*time.Second, "length of each append phase")
	concurrency := flag.Int("concurrency", 8, "concurrent appenders in each phase")
	breaches := flag.Int("breaches", 16, "concurrent mediators asking for breaches in the third phase (0: no third phase)")
	identities := flag.Int("breach-identities", 16, "identities of party tr the breaches callers are spread over (minted from its CA)")
	flag.Func("server-flag", "a flag for the server, e.g. --server-flag=--max-reads-per-party=-1 (repeatable)", func(v string) error {
		serverFlags = append(serverFlags, v)
		return nil
	})
	flag.Parse()
	if *serverBin == "" {
		fmt.Fprintln(os.Stderr, "hold: --server is required")
		os.Exit(2)
	}
	res, err := run(*serverBin, *entries, *getEntries, *watches, *duration, *concurrency, *breaches, *identities)
	if err != nil {
		fmt.Fprintln(os.Stderr, "hold:", err)
		os.Exit(1)
	}
	out, _ := json.MarshalIndent(res, "", "  ")
	fmt.Println(string(out))
}

// serverFlags are --server-flag's, passed to the server after the tool's.
var serverFlags []string

func run(serverBin string, entries, getEntries, watches int, duration time.Duration, concurrency, breaches, identities int) (*result, error) {
	dir, err := os.MkdirTemp("", "mvm-hold-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	certs := filepath.Join(dir, "certs")
	if err := devpki.Generate(devpki.Options{Dir: certs}); err != nil {
		return nil, err
	}
	addr, err := freePort()
	if err != nil {
		return nil, err
	}
	db := filepath.Join(dir, "mvm.db")
	logFile, err := os.Create(filepath.Join(dir, "server.log"))
	if err != nil {
		return nil, err
	}
	defer logFile.Close()
	cmd := exec.Command(serverBin, append([]string{"--listen", addr, "--db", db, "--certs", certs, "--reload-interval", "0",
		"--log-level", "error", "--max-streams-per-identity", strconv.Itoa(getEntries + watches + 8)}, serverFlags...)...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	defer func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
	}()
	pkOpts := mvmclient.FromCertsDir(addr, certs, "pk-liaison")
	pkOpts.Retries = -1
	pk, err := mvmclient.Dial(pkOpts)
	if err != nil {
		return nil, err
	}
	defer pk.Close()
	if err := waitUp(pk); err != nil {
		return nil, err
	}
	if err := fill(pk, entries); err != nil {
		return nil, err
	}
	res := &result{Entries: entries, GetEntries: getEntries, Watches: watches, Concurrency: concurrency, PhaseSeconds: duration.Seconds()}
	if fi, err := os.Stat(db); err == nil {
		res.DBBytes = fi.Size()
	}
	ctx := context.Background()
	alone, err := bench.Run(ctx, bench.Options{Duration: duration, Concurrency: concurrency, PayloadBytes: 512, Clients: []*mvmclient.Client{pk}})
	if err != nil {
		return nil, err
	}
	res.AloneP99ms, res.AlonePerSec, res.AppendErrors = alone.P99ms, alone.AppendsPerSec, alone.Errors
	res.RSSFilledMB = rssMB(cmd.Process.Pid)

	tr, closeTR, err := unreadClient(addr, certs, "tr-verifier")
	if err != nil {
		return nil, err
	}
	defer closeTR()
	hold, cancel := context.WithCancel(ctx)
	defer cancel()
	for range getEntries {
		if _, err := tr.GetEntries(hold, &mvmv1.GetEntriesRequest{}); err != nil {
			return nil, fmt.Errorf("open GetEntries: %w", err)
		}
		res.StreamsOpened++
	}
	for range watches {
		if _, err := tr.Watch(hold, &mvmv1.WatchRequest{}); err != nil {
			return nil, fmt.Errorf("open Watch: %w", err)
		}
		res.StreamsOpened++
	}
	var peak atomic.Uint64
	sample := func() {
		if r := uint64(rssMB(cmd.Process.Pid) * 1024); r > peak.Load() {
			peak.Store(r)
		}
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for {
			sample()
			select {
			case <-t.C:
			case <-stop:
				return
			}
		}
	}()
	time.Sleep(3 * time.Second) // every handler reads, encodes and blocks
	res.RSSHoldIdleMB = rssMB(cmd.Process.Pid)
	during, err := bench.Run(ctx, bench.Options{Duration: duration, Concurrency: concurrency, PayloadBytes: 512, Clients: []*mvmclient.Client{pk}})
	close(stop)
	wg.Wait()
	sample()
	if err != nil {
		return nil, err
	}
	res.HoldP99ms, res.HoldPerSec = during.P99ms, during.AppendsPerSec
	res.AppendErrors += during.Errors
	res.RSSHoldMaxMB = float64(peak.Load()) / 1024
	res.RSSAnonEndMB, res.RSSFileEndMB = procMB(cmd.Process.Pid, "RssAnon:"), procMB(cmd.Process.Pid, "RssFile:")
	if res.AloneP99ms > 0 {
		res.P99Ratio = res.HoldP99ms / res.AloneP99ms
	}
	cancel() // the streams of the hold end before the breaches phase
	if breaches > 0 {
		if err := breachesPhase(res, addr, certs, pk, breaches, max(1, identities), duration, concurrency); err != nil {
			return nil, err
		}
	}
	return res, nil
}

// breachesPhase measures the submitter's appends while callers mediators
// of party tr, over identities identities, ask for one page of breaches
// each, as fast as they are answered.
func breachesPhase(res *result, addr, certs string, pk *mvmclient.Client, callers, identities int, duration time.Duration, concurrency int) error {
	var trs []*mvmclient.Client
	defer func() {
		for _, c := range trs {
			c.Close()
		}
	}()
	for i := range identities {
		name := fmt.Sprintf("tr-reader-%d", i)
		if err := devpki.Issue(certs, name, "tr", devpki.IssueOptions{}); err != nil {
			return err
		}
		c, err := mvmclient.Dial(mvmclient.FromCertsDir(addr, certs, name))
		if err != nil {
			return err
		}
		trs = append(trs, c)
	}
	asOf := timestamppb.New(time.Now().Add(48 * time.Hour))
	ctx, stop := context.WithCancel(context.Background())
	var mu sync.Mutex
	var lat []time.Duration
	var errs atomic.Int64
	var wg sync.WaitGroup
	for i := range callers {
		tr := trs[i%identities]
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				t0 := time.Now()
				_, err := tr.API.GetBreaches(ctx, &mvmv1.GetBreachesRequest{AsOf: asOf})
				if ctx.Err() != nil {
					return
				}
				if err != nil {
					errs.Add(1)
					continue
				}
				mu.Lock()
				lat = append(lat, time.Since(t0))
				mu.Unlock()
			}
		}()
	}
	start := time.Now()
	during, err := bench.Run(context.Background(), bench.Options{Duration: duration, Concurrency: concurrency, PayloadBytes: 512, Clients: []*mvmclient.Client{pk}})
	stop()
	wg.Wait()
	elapsed := time.Since(start)
	if err != nil {
		return err
	}
	res.BreachesCallers, res.BreachesIdentities, res.BreachesErrors = callers, identities, errs.Load()
	res.BreachesPerSec = float64(len(lat)) / elapsed.Seconds()
	if len(lat) > 0 {
		slices.Sort(lat)
		res.BreachesP99ms = float64(lat[len(lat)*99/100].Microseconds()) / 1000
	}
	res.AppendBreachP99ms = during.P99ms
	res.AppendErrors += during.Errors
	if res.AloneP99ms > 0 {
		res.BreachesP99Ratio = during.P99ms / res.AloneP99ms
	}
	return nil
}

func freePort() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

func waitUp(c *mvmclient.Client) error {
	deadline := time.Now().Add(30 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_, err := c.API.GetCheckpoint(ctx, &mvmv1.GetCheckpointRequest{})
		cancel()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the server did not come up: %w", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// fill appends n entries of the largest size.
func fill(pk *mvmclient.Client, n int) error {
	var next atomic.Int64
	var wg sync.WaitGroup
	var mu sync.Mutex
	var first error
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(n) {
				if _, err := pk.Append(context.Background(), bench.MaxPackage()); err != nil {
					mu.Lock()
					first = errors.Join(first, err)
					mu.Unlock()
					return
				}
			}
		}()
	}
	wg.Wait()
	return first
}

// unreadClient connects as name with 64 KiB windows and no bandwidth
// probing: what it does not read stays on the server.
func unreadClient(addr, certs, name string) (mvmv1.ExchangeServiceClient, func(), error) {
	pair, err := tls.LoadX509KeyPair(filepath.Join(certs, name+".crt"), filepath.Join(certs, name+".key"))
	if err != nil {
		return nil, nil, err
	}
	ca, err := os.ReadFile(filepath.Join(certs, "ca-server.crt"))
	if err != nil {
		return nil, nil, err
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(ca)
	conn, err := grpc.NewClient(addr,
		grpc.WithTransportCredentials(credentials.NewTLS(&tls.Config{MinVersion: tls.VersionTLS13, RootCAs: roots, Certificates: []tls.Certificate{pair}})),
		grpc.WithInitialWindowSize(64<<10), grpc.WithInitialConnWindowSize(64<<10),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(64<<20)))
	if err != nil {
		return nil, nil, err
	}
	return mvmv1.NewExchangeServiceClient(conn), func() { conn.Close() }, nil
}

// rssMB is a process's resident set in MiB (Linux /proc), 0 if unknown.
func rssMB(pid int) float64 { return procMB(pid, "VmRSS:") }

// procMB is a field of /proc/PID/status in MiB.
func procMB(pid int, field string) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == field {
			kb, _ := strconv.ParseFloat(f[1], 64)
			return kb / 1024
		}
	}
	return 0
}
