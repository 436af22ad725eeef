// Package metrics defines the server's Prometheus metrics and serves them.
//
// A [Metrics] holds its own registry, so several servers can run in one
// process (tests do). It carries go-grpc-middleware's server metrics
// (calls started and handled, handling-time histogram, messages) and the
// log's own: tree size, batch size, commit latency, appends refused by
// reason, live watch streams and handshake refusals by reason, plus the Go
// runtime and process collectors.
//
// The ledger and the service do not import this package: they take small
// hooks ([Metrics.Committed], and the service's Observer interface, which
// *Metrics implements). Every hook is a counter, gauge or histogram update
// on the caller's goroutine, with no allocation; the append path pays two
// histogram updates per committed batch, not per append
// (BenchmarkCommitted).
package metrics

import (
	"net/http"
	"time"

	grpcprom "github.com/grpc-ecosystem/go-grpc-middleware/providers/prometheus"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"google.golang.org/grpc"
)

// The names of the log's own metrics (README lists them all).
const (
	TreeSize          = "mvm_tree_size"
	BatchEntries      = "mvm_commit_batch_entries"
	CommitSeconds     = "mvm_commit_seconds"
	AppendsRefused    = "mvm_appends_refused_total"
	WatchStreams      = "mvm_watch_streams"
	HandshakesRefused = "mvm_handshakes_refused_total"
	ClockBehind       = "mvm_clock_behind_seconds"
)

// Metrics is one server's metrics and their registry.
type Metrics struct {
	reg               *prometheus.Registry
	grpc              *grpcprom.ServerMetrics
	batchEntries      prometheus.Histogram
	commitSeconds     prometheus.Histogram
	appendsRefused    *prometheus.CounterVec
	watchStreams      prometheus.Gauge
	handshakesRefused *prometheus.CounterVec
}

// New returns metrics registered in a registry of their own.
func New() *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		grpc: grpcprom.NewServerMetrics(grpcprom.WithServerHandlingTimeHistogram(
			grpcprom.WithHistogramBuckets([]float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}))),
		batchEntries: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    BatchEntries,
			Help:    "Entries committed per group commit (one transaction, one fsync, one checkpoint).",
			Buckets: prometheus.ExponentialBuckets(1, 2, 13), // 1 … 4096 (MaxBatch)
		}),
		commitSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    CommitSeconds,
			Help:    "Time to commit one batch to the database, fsync included.",
			Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, 1},
		}),
		appendsRefused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: AppendsRefused,
			Help: "Appends refused, by reason (the gRPC code of the refusal).",
		}, []string{"reason"}),
		watchStreams: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: WatchStreams,
			Help: "Watch streams open now.",
		}),
		handshakesRefused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: HandshakesRefused,
			Help: "TLS handshakes refused, by reason.",
		}, []string{"reason"}),
	}
	m.reg.MustRegister(m.grpc, m.batchEntries, m.commitSeconds, m.appendsRefused, m.watchStreams, m.handshakesRefused,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// TreeSize registers the tree-size gauge, read from size at each scrape.
func (m *Metrics) TreeSize(size func() uint64) {
	m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: TreeSize,
		Help: "Entries in the log (the size of its Merkle tree), as of the last commit.",
	}, func() float64 { return float64(size()) }))
}

// ClockBehind registers the gauge of how far the server's clock reads
// behind the log's last receive time (receive times are held meanwhile),
// read from behind at each scrape.
func (m *Metrics) ClockBehind(behind func() time.Duration) {
	m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: ClockBehind,
		Help: "How far the clock read behind the log's last receive time at the last batch (0 normally; receive times are held meanwhile).",
	}, func() float64 { return behind().Seconds() }))
}

// ServerOptions are the interceptors of go-grpc-middleware's server
// metrics. They go first in the chains, so that every call is counted,
// refused ones (Unauthenticated) included.
func (m *Metrics) ServerOptions() []grpc.ServerOption {
	return []grpc.ServerOption{
		grpc.ChainUnaryInterceptor(m.grpc.UnaryServerInterceptor()),
		grpc.ChainStreamInterceptor(m.grpc.StreamServerInterceptor()),
	}
}

// InitializeMetrics sets the per-method series of g's services to zero,
// so that a scrape shows them before their first call.
func (m *Metrics) InitializeMetrics(g *grpc.Server) { m.grpc.InitializeMetrics(g) }

// Handler serves the registry in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

// Committed is the ledger's hook: one batch of entries committed in d.
func (m *Metrics) Committed(entries int, d time.Duration) {
	m.batchEntries.Observe(float64(entries))
	m.commitSeconds.Observe(d.Seconds())
}

// AppendRefused counts a refused append.
func (m *Metrics) AppendRefused(reason string) { m.appendsRefused.WithLabelValues(reason).Inc() }

// HandshakeRefused counts a refused TLS handshake.
func (m *Metrics) HandshakeRefused(reason string) { m.handshakesRefused.WithLabelValues(reason).Inc() }

// WatchStreams adds delta (+1 or -1) to the open watch streams.
func (m *Metrics) WatchStreams(delta int) { m.watchStreams.Add(float64(delta)) }
