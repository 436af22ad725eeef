package metrics

import (
	"testing"
	"time"
)

// TestHooksDoNotAllocate: the hooks on the append path (once per batch)
// and on streams cost no allocation.
func TestHooksDoNotAllocate(t *testing.T) {
	m := New()
	m.AppendRefused("PermissionDenied") // the series exists from here on
	for _, h := range []struct {
		name string
		fn   func()
	}{
		{"Committed", func() { m.Committed(32, 300*time.Microsecond) }},
		{"WatchStreams", func() { m.WatchStreams(1); m.WatchStreams(-1) }},
		{"AppendRefused", func() { m.AppendRefused("PermissionDenied") }},
	} {
		if n := testing.AllocsPerRun(100, h.fn); n != 0 {
			t.Errorf("%s: %v allocations a call, want 0", h.name, n)
		}
	}
}

// BenchmarkCommitted is the ledger's hook: paid once per committed batch.
func BenchmarkCommitted(b *testing.B) {
	m := New()
	b.ReportAllocs()
	for b.Loop() {
		m.Committed(32, 300*time.Microsecond)
	}
}
