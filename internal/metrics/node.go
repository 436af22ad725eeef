package metrics

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// The names of a mediator node's metrics (README lists them).
const (
	NodeAlarms      = "mvm_node_alarms_total"
	NodeAlarmIndex  = "mvm_node_alarm_index"
	NodePrimarySize = "mvm_node_primary_size"
	NodeCopySeconds = "mvm_node_copy_seconds"
	NodeCopyEntries = "mvm_node_copied_entries_total"
)

// NodeObserver registers a mediator node's metrics and returns the hooks
// of node.Config: Alarm (a verification failure stopped the copy; the
// gauge names the entry) and Copied (a piece verified and stored).
// primarySize is read at each scrape: the primary's latest size the node
// saw, to compare with mvm_tree_size. Call it once.
func (m *Metrics) NodeObserver(primarySize func() uint64) (alarm func(index uint64), copied func(int, time.Duration)) {
	alarms := prometheus.NewCounter(prometheus.CounterOpts{
		Name: NodeAlarms,
		Help: "Verification failures that stopped the node's copy of the log (alert on any).",
	})
	index := prometheus.NewGauge(prometheus.GaugeOpts{
		Name: NodeAlarmIndex,
		Help: "The index of the entry that failed the node's verification (-1: none).",
	})
	index.Set(-1)
	copySeconds := prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    NodeCopySeconds,
		Help:    "Time to copy one piece: from the primary's checkpoint to the piece verified and committed.",
		Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
	})
	entries := prometheus.NewCounter(prometheus.CounterOpts{
		Name: NodeCopyEntries,
		Help: "Entries the node verified and stored.",
	})
	m.reg.MustRegister(alarms, index, copySeconds, entries, prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: NodePrimarySize,
		Help: "The primary's latest checkpoint size the node saw (its gap to mvm_tree_size is the node's lag).",
	}, func() float64 { return float64(primarySize()) }))
	return func(i uint64) {
			alarms.Inc()
			index.Set(float64(i))
		}, func(n int, took time.Duration) {
			entries.Add(float64(n))
			copySeconds.Observe(took.Seconds())
		}
}
