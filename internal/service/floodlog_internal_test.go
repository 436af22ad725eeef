package service

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"
)

// TestFloodGuardBounded: a client minting a new identity (or address) for
// every refusal grows the guard's state to its capacity and no further,
// and the lines it gets stay bounded: burst per tracked peer, plus burst
// for all the others together, whose summary counts every line held back.
func TestFloodGuardBounded(t *testing.T) {
	for _, tc := range []struct {
		burst, peers, minted int
	}{
		{burst: 2, peers: 4, minted: 1000},
		{burst: 1, peers: 1, minted: 10},
		{burst: 5, peers: 100, minted: 50}, // below capacity: every peer its own budget
	} {
		t.Run(fmt.Sprintf("burst=%d,peers=%d,minted=%d", tc.burst, tc.peers, tc.minted), func(t *testing.T) {
			var buf bytes.Buffer
			g := newFloodGuard(slog.New(slog.NewJSONHandler(&buf, nil)), tc.burst, time.Hour, tc.peers)
			allowed := 0
			for i := range tc.minted {
				for range tc.burst + 1 {
					if g.allow(kindAppend, fmt.Sprintf("pk/minted-%d", i)) {
						allowed++
					}
				}
				if n := len(g.count); n > tc.peers+1 {
					t.Fatalf("after %d peers the guard tracks %d, more than %d+1", i+1, n, tc.peers)
				}
			}
			tracked := min(tc.minted, tc.peers)
			wantAllowed := tracked * tc.burst
			if tc.minted > tc.peers {
				wantAllowed += tc.burst
			}
			if allowed != wantAllowed {
				t.Errorf("%d lines allowed, want %d", allowed, wantAllowed)
			}
			g.flush()
			suppressed := 0
			for _, l := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
				var m struct {
					Msg        string
					Suppressed int
				}
				if err := json.Unmarshal([]byte(l), &m); err != nil || m.Msg != "refusals suppressed" {
					t.Fatalf("unexpected line %q (%v)", l, err)
				}
				suppressed += m.Suppressed
			}
			if total := tc.minted * (tc.burst + 1); suppressed != total-allowed {
				t.Errorf("summaries count %d suppressed, want %d", suppressed, total-allowed)
			}
			if len(g.count) != 0 {
				t.Errorf("after flush the guard tracks %d peers", len(g.count))
			}
		})
	}
}
