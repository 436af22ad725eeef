package metrics

import "github.com/prometheus/client_golang/prometheus"

// NodeEvidencePending is the name of a node's gauge of evidence files its
// verified log names that it does not hold yet (README lists it).
const NodeEvidencePending = "mvm_node_evidence_pending"

// EvidencePending registers that gauge; pending is read at each scrape.
// Call it once.
func (m *Metrics) EvidencePending(pending func() int) {
	m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: NodeEvidencePending,
		Help: "Evidence files the node's verified log names that it does not hold yet (copied from the primary a pass a second).",
	}, func() float64 { return float64(pending()) }))
}
