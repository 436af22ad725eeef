// Package bench drives a real server with real signed appends and measures
// throughput and latency. It is the engine of `client bench`.
//
// Each worker seals a fresh TargetPackage (its summary padded so that the
// serialized payload has the requested size), appends it without retries,
// and records the latency of the append. A worker appends over an append
// stream of its own (AppendStream: one request and one response per
// envelope, as a submitter with many envelopes would send them), or with
// one unary Append call per envelope (Options.Unary). A refused or failed
// append counts as an error and the worker carries on, so a run survives the server dying
// mid-way and can drive crash tests: with Receipts set, every acknowledged
// append is written out (index and message id) for checking afterwards.
package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
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
	// Clients to spread the workers over (one TLS connection each).
	Clients []*mvmclient.Client
	// Receipts, if set, receives one JSON line per acknowledged append.
	Receipts io.Writer
	// MaxAppends stops the run after this many appends (0: no limit).
	MaxAppends int64
	// Unary makes one Append call per envelope instead of using append
	// streams.
	Unary bool
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
}

// Receipt is one acknowledged append, as written to Options.Receipts.
type Receipt struct {
	Index     uint64 `json:"index"`
	MessageID string `json:"message_id"`
}

// Run runs the load until the duration elapses, ctx ends or MaxAppends.
func Run(ctx context.Context, o Options) (*Result, error) {
	if len(o.Clients) == 0 {
		return nil, errors.New("no clients to append with")
	}
	if o.Concurrency <= 0 {
		o.Concurrency = 1
	}
	// Calls run under ctx, not under the run's deadline: an append in flight
	// when the time is up completes and counts.
	end := time.Now().Add(o.Duration)

	var mu sync.Mutex
	var lat []time.Duration
	res := &Result{Concurrency: o.Concurrency, PayloadBytes: o.PayloadBytes, Mode: "stream"}
	if o.Unary {
		res.Mode = "unary"
	}
	enc := (*json.Encoder)(nil)
	if o.Receipts != nil {
		enc = json.NewEncoder(o.Receipts)
	}
	var started int64
	start := time.Now()
	var wg sync.WaitGroup
	for w := range o.Concurrency {
		c := o.Clients[w%len(o.Clients)]
		wg.Add(1)
		go func() {
			defer wg.Done()
			var local []time.Duration
			var app *mvmclient.Appender // this worker's stream, while it works
			defer func() {
				if app != nil {
					app.Close()
				}
				mu.Lock()
				lat = append(lat, local...)
				mu.Unlock()
			}()
			for ctx.Err() == nil && time.Now().Before(end) {
				mu.Lock()
				if o.MaxAppends > 0 && started >= o.MaxAppends {
					mu.Unlock()
					return
				}
				started++
				mu.Unlock()
				tp := Package(o.PayloadBytes)
				env, err := c.Seal(tp)
				if err != nil {
					fail(&mu, res, err)
					continue
				}
				var resp *mvmv1.AppendResponse
				if !o.Unary && app == nil {
					if app, err = c.NewAppender(ctx); err != nil {
						app = nil
						if ctx.Err() != nil {
							return
						}
						fail(&mu, res, err)
						time.Sleep(10 * time.Millisecond)
						continue
					}
				}
				t0 := time.Now() // the append, not opening a stream
				if o.Unary {
					cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
					resp, err = c.API.Append(cctx, &mvmv1.AppendRequest{Envelope: env})
					cancel()
				} else {
					resp, err = app.AppendSealed(env)
					if app.Broken() {
						app.Close() // the next append opens another
						app = nil
					}
				}
				d := time.Since(t0)
				if err != nil {
					if ctx.Err() != nil {
						return // the run ended mid-call: neither acked nor an error
					}
					fail(&mu, res, err)
					time.Sleep(10 * time.Millisecond) // a dead server is not a busy loop
					continue
				}
				local = append(local, d)
				mu.Lock()
				res.Acked++
				if resp.Duplicate {
					res.Duplicates++
				}
				if enc != nil {
					_ = enc.Encode(Receipt{Index: resp.Receipt.Index, MessageID: tp.Header.MessageId})
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	res.Seconds = time.Since(start).Seconds()
	res.AppendsPerSec = float64(res.Acked) / res.Seconds
	slices.Sort(lat)
	res.P50ms, res.P90ms, res.P99ms = ms(pct(lat, 50)), ms(pct(lat, 90)), ms(pct(lat, 99))
	if len(lat) > 0 {
		res.MaxMs = ms(lat[len(lat)-1])
	}
	return res, nil
}

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

// Wrote reports whether a logged payload is a package bench wrote: a
// target package with both of bench's marks.
func Wrote(m proto.Message) bool {
	tp, ok := m.(*mvmv1.TargetPackage)
	return ok && strings.HasPrefix(tp.GetHeader().GetMessageId(), IDPrefix) && tp.SuspectedGroup == Group
}

// Print writes a human summary.
func (r *Result) Print(w io.Writer) {
	fmt.Fprintf(w, "appends/s: %.0f (%d acknowledged in %.1fs, %d concurrent, %d-byte payloads, %s)\n",
		r.AppendsPerSec, r.Acked, r.Seconds, r.Concurrency, r.PayloadBytes, r.Mode)
	fmt.Fprintf(w, "latency ms: p50 %.2f  p90 %.2f  p99 %.2f  max %.2f\n", r.P50ms, r.P90ms, r.P99ms, r.MaxMs)
	fmt.Fprintf(w, "errors: %d\n", r.Errors)
	if r.FirstError != "" {
		fmt.Fprintf(w, "first error: %s\n", r.FirstError)
	}
}
