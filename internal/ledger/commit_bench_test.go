package ledger

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/mvm-exchange/mvm/client/mvmclient"
	"github.com/mvm-exchange/mvm/internal/identity"
	"github.com/mvm-exchange/mvm/internal/store"
	"github.com/mvm-exchange/mvm/internal/workflow"
	"github.com/transparency-dev/merkle/compact"
	bolt "go.etcd.io/bbolt"
)

// BenchmarkCommitIndex is the writer's commit of batches of new packages
// (what `client bench` sends), without the network, the signatures or the
// reducer: the batch's records as the ledger makes them (leaves, tree
// nodes, message-id and package keys, a checkpoint) committed to a real
// bbolt file, with and without the package-state index's records
// (pending.indexChanges, then the store's writes). The difference between
// the two is what the index costs an append (docs/PERFORMANCE.md).
func BenchmarkCommitIndex(b *testing.B) {
	const batch = 32 // about the writer's batch at 64 clients
	for _, c := range []struct {
		name         string
		index, fsync bool
	}{{"noindex/nosync", false, false}, {"index/nosync", true, false}, {"noindex/fsync", false, true}, {"index/fsync", true, true}} {
		b.Run(c.name, func(b *testing.B) {
			st, err := store.Open(filepath.Join(b.TempDir(), "bench.db"), store.Options{NoSync: !c.fsync})
			if err != nil {
				b.Fatal(err)
			}
			defer st.Close()
			leaf := make([]byte, 700) // a 512-byte payload's envelope and leaf
			rand.Read(leaf)
			author := identity.Identity{TrustDomain: "mvm.example", Party: "pk", Name: "pk-liaison"}
			start := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
			ts0 := st.DB().Stats().TxStats
			w0 := ts0.GetWrite()
			var next uint64
			cpu0 := cpuTime()
			b.ResetTimer()
			for range b.N {
				p := &pending{sb: &store.Batch{First: next, Certs: map[string][]byte{}},
					overlay: map[string]*workflow.Package{}, before: map[string]*workflow.Package{}}
				for j := range uint64(batch) {
					idx := next + j
					id := mvmclient.NewMessageID()
					p.sb.Leaves = append(p.sb.Leaves, leaf)
					h := sha256.Sum256(append(leaf, byte(idx), byte(idx>>8), byte(idx>>16)))
					for l := uint(0); l == 0 || (idx+1)%(1<<l) == 0; l++ {
						p.sb.Nodes = append(p.sb.Nodes, store.Node{ID: compact.NewNodeID(l, idx>>l), Hash: h[:]})
					}
					p.sb.MsgIDs = append(p.sb.MsgIDs, store.KV{Key: store.MsgIDKey(author.URI(), id), Value: binary.BigEndian.AppendUint64(nil, idx)})
					p.sb.Packages = append(p.sb.Packages, store.PackageKey(id, idx))
					// The reducer makes the package's state whether it is indexed or not.
					at := start.Add(time.Duration(idx) * time.Millisecond)
					p.overlay[id] = &workflow.Package{ID: id, Index: idx, ReceivedAt: at, Submitter: author,
						Responder: "af", Status: workflow.StatusSubmitted, Entries: map[string]int{"pk": 1},
						Deadlines: []workflow.Deadline{{Name: workflow.DeadlineAcknowledge, Party: "af", Due: at.Add(24 * time.Hour)}}}
				}
				if c.index {
					p.indexChanges()
				}
				p.sb.Checkpoint = make([]byte, 250)
				if err := st.Commit(p.sb); err != nil {
					b.Fatal(err)
				}
				next += batch
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/1e3/float64(b.N*batch), "µs/append")
			b.ReportMetric(float64((cpuTime()-cpu0).Nanoseconds())/1e3/float64(b.N*batch), "cpu-µs/append")
			ts := st.DB().Stats().TxStats
			if err := st.DB().View(func(tx *bolt.Tx) error {
				b.ReportMetric(float64(tx.Size())/float64(b.N*batch), "filebytes/append")
				return nil
			}); err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(float64(ts.GetWrite()-w0)/float64(b.N), "pages/commit")
		})
	}
}

// cpuTime is the CPU the process has spent (user and system, every
// thread: the collector's and bbolt's writes included), which a shared
// host disturbs less than the elapsed time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
