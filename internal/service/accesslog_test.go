package service_test

import (
	"bytes"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"google.golang.org/grpc/codes"

	"github.com/mvm-exchange/mvm/internal/server"
	"github.com/mvm-exchange/mvm/internal/testenv"
	mvmv1 "github.com/mvm-exchange/mvm/proto/mvm/v1"
)

// syncBuffer is a log destination safe for the server's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) lines(substr string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, l := range strings.Split(s.b.String(), "\n") {
		if strings.Contains(l, substr) {
			out = append(out, l)
		}
	}
	return out
}

// TestAccessLog: refused appends are logged with the caller and the code
// whatever the level; successful ones only at debug level, as every other
// call.
func TestAccessLog(t *testing.T) {
	for _, level := range []slog.Level{slog.LevelInfo, slog.LevelDebug} {
		t.Run(level.String(), func(t *testing.T) {
			var buf syncBuffer
			env := testenv.New(t, func(c *server.Config) {
				c.Logger = slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: level}))
			})
			f := &fixture{env: env}
			f.dial(t)
			f.v = logVerifier(t, env.Certs)

			mustAppend(t, f.pk(), targetPackage())
			_, err := f.af().Append(ctxT(t), targetPackage()) // a responder may not submit
			wantCode(t, err, codes.PermissionDenied)
			// Refused before the ledger: logged all the same.
			_, err = f.pk().API.Append(ctxT(t), &mvmv1.AppendRequest{})
			wantCode(t, err, codes.InvalidArgument)
			if level == slog.LevelDebug {
				if l := buf.lines("grpc.code=InvalidArgument"); len(l) != 1 {
					t.Errorf("empty envelope: %d log lines, want 1", len(l))
				}
			} else if l := buf.lines("append refused"); len(l) != 2 || !strings.Contains(l[1], "grpc.code=InvalidArgument") {
				t.Errorf("empty envelope: refusal lines %q", l)
			}

			var refused []string
			if level == slog.LevelDebug {
				refused = buf.lines("grpc.code=PermissionDenied")
				if ok := buf.lines("grpc.code=OK"); len(ok) == 0 || !strings.Contains(strings.Join(ok, "\n"), "Append") {
					t.Errorf("debug level: no line for the successful append:\n%s", strings.Join(ok, "\n"))
				}
			} else {
				refused = buf.lines("grpc.code=PermissionDenied")
				if ok := buf.lines("grpc.code=OK"); len(ok) != 0 {
					t.Errorf("info level: successful calls logged:\n%s", strings.Join(ok, "\n"))
				}
			}
			if len(refused) != 1 {
				t.Fatalf("want one line for the refused append, got %d:\n%s", len(refused), strings.Join(refused, "\n"))
			}
			for _, want := range []string{"level=INFO", "grpc.code=PermissionDenied", "af-interior", "may not submit"} {
				if !strings.Contains(refused[0], want) {
					t.Errorf("refusal line lacks %q: %s", want, refused[0])
				}
			}
		})
	}
}
