// Package bench drives a real server with real signed appends and measures
// throughput and latency. It is the engine of `client bench`.
//
// Each worker runs a workflow ([Mix]) package after package: by default it
// seals a fresh TargetPackage (its summary padded so that the serialized
// payload has the requested size) and appends it; with a mix, the
// package's responder then acknowledges it, asks for information and
// reports, each message appended once the one before was accepted, as
// the workflow requires. Under a sealing agreement ([Sealing]) each
// package is sealed to every party (its key wrapped through this
// process's channel keys: an encapsulation per party only when a channel
// is made or renewed) and each message under its package's key, as the
// clients do.
// Every append is timed without retries. A worker appends over an append
// stream of its own per identity (AppendStream: one request and one
// response per envelope, as a submitter with many envelopes would send
// them), or with one unary Append call per envelope (Options.Unary). A
// refused or failed append counts as an error and the worker carries on
// with a new package, so a run survives the server dying mid-way and can
// drive crash tests: with Receipts set, every acknowledged append is
// written out (index and message id) for checking afterwards.
package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"runtime/pprof"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/mvm-exchange/mvm/client/mvmclient"
	"github.com/mvm-exchange/mvm/internal/message"
	mvmv1 "github.com/mvm-exchange/mvm/proto/mvm/v1"
)

// Options of a run.
type Options struct {
	Duration     time.Duration
	Concurrency  int
	PayloadBytes int
	// Clients to spread the workers over (one TLS connection each), as
	// the submitter.
	Clients []*mvmclient.Client
	// Receipts, if set, receives one JSON line per acknowledged append.
	Receipts io.Writer
	// MaxAppends stops the run after this many appends (0: no limit).
	MaxAppends int64
	// Unary makes one Append call per envelope instead of using append
	// streams.
	Unary bool
	// Mix is the workflow to drive (zero: PackagesOnly). A mix with
	// messages needs Responders.
	Mix Mix
	// Responders are the clients, as the packages' responder, that send
	// its messages (one TLS connection each).
	Responders []*mvmclient.Client
	// Pool is how many packages are submitted before the clock starts
	// when the mix submits none (Mix.Package 0); a worker that finds the
	// pool empty stops (Result.PoolExhausted).
	Pool int
	// Sealing, if set, seals every append (a sealing agreement).
	Sealing *Sealing
	// PoolDone, if set, is called when the pool's packages are submitted,
	// just before the clock starts (mixes without packages only).
	PoolDone func()
	// CPUProfile, if set, receives this process's CPU profile over the
	// timed part only (not the pool's packages), the part ClientCPUus
	// measures.
	CPUProfile io.Writer
}

// Result of a run. JSON names are the bench tool's public contract.
type Result struct {
	AppendsPerSec float64 `json:"appends_per_sec"`
	P50ms         float64 `json:"p50_ms"`
	P90ms         float64 `json:"p90_ms"`
	P99ms         float64 `json:"p99_ms"`
	MaxMs         float64 `json:"max_ms"`
	Acked         int64   `json:"acked"`
	Errors        int64   `json:"errors"`
	Duplicates    int64   `json:"duplicates"`
	Seconds       float64 `json:"duration_s"`
	Concurrency   int     `json:"concurrency"`
	Mode          string  `json:"mode"` // "stream" or "unary"
	PayloadBytes  int     `json:"payload_bytes"`
	FirstError    string  `json:"first_error,omitempty"`
	Mix           string  `json:"mix"`
	Sealed        bool    `json:"sealed"`
	// PerKind counts the acknowledged appends of each kind of the mix.
	PerKind map[string]int64 `json:"per_kind"`
	// ClientCPUus is the CPU this process spent per acknowledged append
	// while the clock ran (building, sealing, signing, sending): the load
	// generator's share, which sealing raises.
	ClientCPUus   float64 `json:"client_cpu_us_per_append"`
	PoolExhausted bool    `json:"pool_exhausted,omitempty"`
}

// Receipt is one acknowledged append, as written to Options.Receipts.
type Receipt struct {
	Index     uint64 `json:"index"`
	MessageID string `json:"message_id"`
}

// run is one run's shared state.
type run struct {
	o       Options
	ctx     context.Context
	end     time.Time
	mu      sync.Mutex
	lat     []time.Duration
	res     *Result
	enc     *json.Encoder
	started int64
	pool    chan *Flow
}

// Run runs the load until the duration elapses, ctx ends or MaxAppends.
func Run(ctx context.Context, o Options) (*Result, error) {
	if len(o.Clients) == 0 {
		return nil, errors.New("no clients to append with")
	}
	if o.Concurrency <= 0 {
		o.Concurrency = 1
	}
	if o.Mix == (Mix{}) {
		o.Mix = PackagesOnly
	}
	if err := o.Mix.check(); err != nil {
		return nil, err
	}
	if o.Mix != PackagesOnly && len(o.Responders) == 0 {
		return nil, errors.New("a mix with messages needs the responder's clients")
	}
	r := &run{o: o, ctx: ctx, res: &Result{Concurrency: o.Concurrency, PayloadBytes: o.PayloadBytes, Mode: "stream",
		Mix: o.Mix.String(), Sealed: o.Sealing != nil, PerKind: map[string]int64{}}}
	if o.Unary {
		r.res.Mode = "unary"
	}
	if o.Receipts != nil {
		r.enc = json.NewEncoder(o.Receipts)
	}
	if o.Mix.Package == 0 {
		if err := r.fillPool(); err != nil {
			return nil, err
		}
		if o.PoolDone != nil {
			o.PoolDone()
		}
	}
	// Calls run under ctx, not under the run's deadline: an append in flight
	// when the time is up completes and counts.
	if o.CPUProfile != nil {
		if err := pprof.StartCPUProfile(o.CPUProfile); err != nil {
			return nil, fmt.Errorf("cpu profile: %w", err)
		}
	}
	cpu0 := cpuTime()
	start := time.Now()
	r.end = start.Add(o.Duration)
	var wg sync.WaitGroup
	for w := range o.Concurrency {
		wk := &worker{r: r, sub: client{c: o.Clients[w%len(o.Clients)]}}
		if len(o.Responders) > 0 {
			wk.resp = client{c: o.Responders[w%len(o.Responders)]}
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			wk.work()
		}()
	}
	wg.Wait()
	if o.CPUProfile != nil {
		pprof.StopCPUProfile()
	}
	res := r.res
	res.Seconds = time.Since(start).Seconds()
	res.AppendsPerSec = float64(res.Acked) / res.Seconds
	if res.Acked > 0 {
		res.ClientCPUus = float64((cpuTime() - cpu0).Microseconds()) / float64(res.Acked)
	}
	slices.Sort(r.lat)
	res.P50ms, res.P90ms, res.P99ms = ms(pct(r.lat, 50)), ms(pct(r.lat, 90)), ms(pct(r.lat, 99))
	if len(r.lat) > 0 {
		res.MaxMs = ms(r.lat[len(r.lat)-1])
	}
	return res, nil
}

// take reserves the next append, false when the run is over.
func (r *run) take() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.ctx.Err() != nil || !time.Now().Before(r.end) || (r.o.MaxAppends > 0 && r.started >= r.o.MaxAppends) {
		return false
	}
	r.started++
	return true
}

func (r *run) fail(err error) { fail(&r.mu, r.res, err) }

func fail(mu *sync.Mutex, res *Result, err error) {
	mu.Lock()
	defer mu.Unlock()
	res.Errors++
	if res.FirstError == "" {
		res.FirstError = err.Error()
		if s, ok := status.FromError(err); ok {
			res.FirstError = s.Code().String() + ": " + s.Message()
		}
	}
}

func pct(sorted []time.Duration, p int) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := (len(sorted)*p + 99) / 100
	return sorted[max(0, min(i, len(sorted))-1)]
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// What bench writes is marked, so that `client bench` can tell a log that
// holds only its own packages from one that holds real work: every package
// it submits has a message id (its package id) starting with IDPrefix, in
// the signed cleartext header, and the suspected group Group.
const (
	IDPrefix = "bench-"
	Group    = "mvm-bench"
)

// Package returns a fresh target package whose serialized form is about
// payloadBytes long, marked as bench's (see [Wrote]).
func Package(payloadBytes int) *mvmv1.TargetPackage {
	h := mvmclient.NewHeader()
	h.MessageId = IDPrefix + h.MessageId
	tp := &mvmv1.TargetPackage{
		Header:         h,
		Locations:      []*mvmv1.Location{{Lat: 34.0151, Lon: 71.5249, PrecisionM: 50}},
		SuspectedGroup: Group,
		Priority:       mvmv1.Priority_PRIORITY_MEDIUM,
		Tlp:            mvmv1.Tlp_TLP_AMBER,
	}
	const overhead = 95 // header, location, group, enums and field tags
	if n := payloadBytes - overhead; n > 0 {
		tp.Summary = strings.Repeat("x", min(n, 4096))
	}
	return tp
}

// MaxPackage returns a fresh target package with every field at its
// largest valid size (message.Max*): the largest entry a submitter can
// make, for measurements of what reads of a log of such entries hold.
func MaxPackage() *mvmv1.TargetPackage {
	tp := &mvmv1.TargetPackage{
		Header:         mvmclient.NewHeader(),
		SuspectedGroup: strings.Repeat("g", message.MaxShortText),
		Summary:        strings.Repeat("s", message.MaxText),
		Priority:       mvmv1.Priority_PRIORITY_MEDIUM,
		Tlp:            mvmv1.Tlp_TLP_AMBER,
	}
	for i := range message.MaxLocations {
		tp.Locations = append(tp.Locations, &mvmv1.Location{Lat: 34 + float64(i)/100, Lon: 71.5, PrecisionM: 50,
			Description: strings.Repeat("d", message.MaxShortText)})
	}
	for i := range message.MaxEvidence {
		d := make([]byte, message.EvidenceDigestLen)
		d[0] = byte(i)
		tp.EvidenceSha256 = append(tp.EvidenceSha256, d)
	}
	return tp
}

// Wrote reports whether a logged payload is bench's: a target package
// with both of bench's marks (a sealed one shows only its id: its group is
// sealed), or a message with bench's id prefix on a package that has it.
func Wrote(m proto.Message) bool {
	if tp, ok := m.(*mvmv1.TargetPackage); ok {
		return strings.HasPrefix(tp.GetHeader().GetMessageId(), IDPrefix) && (tp.SuspectedGroup == Group || message.IsSealed(tp))
	}
	switch m.(type) {
	case *mvmv1.Acknowledgement, *mvmv1.RequestForInformation, *mvmv1.ActionReport:
		return strings.HasPrefix(message.Header(m).GetMessageId(), IDPrefix) && strings.HasPrefix(message.PackageID(m), IDPrefix)
	}
	return false
}

// Print writes a human summary.
func (r *Result) Print(w io.Writer) {
	fmt.Fprintf(w, "appends/s: %.0f (%d acknowledged in %.1fs, %d concurrent, %d-byte payloads, %s)\n",
		r.AppendsPerSec, r.Acked, r.Seconds, r.Concurrency, r.PayloadBytes, r.Mode)
	fmt.Fprintf(w, "latency ms: p50 %.2f  p90 %.2f  p99 %.2f  max %.2f\n", r.P50ms, r.P90ms, r.P99ms, r.MaxMs)
	fmt.Fprintf(w, "mix: %s, sealed: %v, per kind: %v; client CPU per append: %.0f µs\n", r.Mix, r.Sealed, r.PerKind, r.ClientCPUus)
	if r.PoolExhausted {
		fmt.Fprintln(w, "the pool of packages ran out before the time: give a larger --packages")
	}
	fmt.Fprintf(w, "errors: %d\n", r.Errors)
	if r.FirstError != "" {
		fmt.Fprintf(w, "first error: %s\n", r.FirstError)
	}
}

// cpuTime is the CPU this process has used, user and system.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
