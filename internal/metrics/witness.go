package metrics

import "github.com/prometheus/client_golang/prometheus"

// The names of the witness push metrics (README lists them).
const (
	WitnessPushes       = "mvm_witness_pushes_total"
	WitnessCosignedSize = "mvm_witness_cosigned_size"
)

// WitnessObserver registers the metrics of the checkpoints pushed to C2SP
// witnesses and returns the hook of witness.Pusher.Observe: pushes by
// witness and result (cosigned, conflict, error), and the latest size each
// witness cosigned. Call it once.
func (m *Metrics) WitnessObserver() func(witness, result string, size uint64) {
	pushes := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: WitnessPushes,
		Help: "add-checkpoint requests to C2SP witnesses, by witness and result (cosigned, conflict, error).",
	}, []string{"witness", "result"})
	cosigned := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: WitnessCosignedSize,
		Help: "The latest checkpoint size each witness cosigned (a gap to mvm_tree_size that grows: a witness behind).",
	}, []string{"witness"})
	m.reg.MustRegister(pushes, cosigned)
	return func(witness, result string, size uint64) {
		pushes.WithLabelValues(witness, result).Inc()
		if result == "cosigned" {
			cosigned.WithLabelValues(witness).Set(float64(size))
		}
	}
}

// ReceiptsHeld is the name of the counter of receipts held (server
// --sync-witnesses).
const ReceiptsHeld = "mvm_receipts_held_total"

// ReceiptHeldCounter registers the counter of appends answered
// Unavailable because too few witnesses cosigned their entry in time
// (logged, not known to be replicated), and returns its increment. Call it
// once.
func (m *Metrics) ReceiptHeldCounter() func() {
	c := prometheus.NewCounter(prometheus.CounterOpts{
		Name: ReceiptsHeld,
		Help: "Appends logged but answered Unavailable: too few witnesses cosigned them within --sync-timeout.",
	})
	m.reg.MustRegister(c)
	return c.Inc
}
