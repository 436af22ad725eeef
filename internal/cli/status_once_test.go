package cli

import (
	"bytes"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/mvm-exchange/mvm/internal/server"
	"github.com/mvm-exchange/mvm/internal/testenv"
)

// lockedBuffer is a log sink the server's goroutines share.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) count(substr string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Count(l.b.String(), substr)
}

// TestAuditAsksStatusOnce: `audit --state` asks the server what it is
// (GetStatus) once a run: the comparison of the saved checkpoint and the
// cosignature after the audit share the answer.
func TestAuditAsksStatusOnce(t *testing.T) {
	var log lockedBuffer
	e := testenv.New(t, func(c *server.Config) {
		c.Logger = slog.New(slog.NewTextHandler(&log, &slog.HandlerOptions{Level: slog.LevelDebug}))
	})
	state := filepath.Join(t.TempDir(), "tr.state")
	for run, want := range []int{1, 2} {
		out := mustCLI(t, e.Addr, e.Certs, testenv.Mediator, "audit", "--state", state)
		if !strings.Contains(out, "cosigned checkpoint size") {
			t.Fatalf("audit %d: no cosignature:\n%s", run+1, out)
		}
		// The first run has no saved checkpoint to compare: only the
		// cosignature asks.
		if got := log.count("grpc.method=GetStatus"); got != want {
			t.Errorf("after audit %d: the server answered GetStatus %d times in all, want %d", run+1, got, want)
		}
	}
}
