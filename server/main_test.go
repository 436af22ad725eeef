package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/mvm-exchange/mvm/client/mvmclient"
	"github.com/mvm-exchange/mvm/internal/server"
	"github.com/mvm-exchange/mvm/internal/testenv"
	mvmv1 "github.com/mvm-exchange/mvm/proto/mvm/v1"
)

func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){"server": main})
}

// TestScripts runs testdata/*.txtar: the server binary as an operator
// runs it.
func TestScripts(t *testing.T) {
	testscript.Run(t, testscript.Params{Dir: "testdata"})
}

// lockedBuffer is a log destination safe for the server's goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestJSONLog runs a real server with --log-format json at debug level
// through successful and refused calls, a refused handshake and a stop,
// then parses every line: each is one JSON object with time, level and
// msg; each request line names the method, the peer and the code; the
// refusal lines (appends, handshakes) carry peer, peer.address, reason
// and error.
func TestJSONLog(t *testing.T) {
	var buf lockedBuffer
	logger, err := newLogger(&buf, "json", "debug")
	if err != nil {
		t.Fatal(err)
	}
	e := testenv.New(t, func(c *server.Config) { c.Logger = logger })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	pk, af := e.Client(testenv.Submitter), e.Client(testenv.Responder)
	tp := &mvmv1.TargetPackage{Header: mvmclient.NewHeader(), SuspectedGroup: "group", Summary: "safe house",
		Locations: []*mvmv1.Location{{Lat: 34.0151, Lon: 71.5249, PrecisionM: 50, Description: "compound"}},
		Priority:  mvmv1.Priority_PRIORITY_HIGH, Tlp: mvmv1.Tlp_TLP_AMBER, EvidenceSha256: [][]byte{make([]byte, 32)}}
	if _, err := pk.Append(ctx, tp); err != nil {
		t.Fatalf("append: %v", err)
	}
	if _, err := af.Append(ctx, tp); status.Code(err) != codes.PermissionDenied {
		t.Fatalf("append by the responder: %v, want PermissionDenied", err)
	}
	if _, err := af.API.GetCheckpoint(ctx, &mvmv1.GetCheckpointRequest{}); err != nil {
		t.Fatal(err)
	}
	// A handshake without a client certificate.
	caPEM, err := os.ReadFile(filepath.Join(e.Certs, "ca-server.crt"))
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(caPEM)
	if c, err := tls.Dial("tcp", e.Addr, &tls.Config{MinVersion: tls.VersionTLS13, RootCAs: roots, ServerName: "localhost"}); err == nil {
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		c.Read(make([]byte, 1))
		c.Close()
	}
	// The server logs the refusal once its side of the connection closed.
	for deadline := time.Now().Add(3 * time.Second); !strings.Contains(buf.String(), "TLS handshake refused") && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
	e.Stop()
	defer func() {
		if t.Failed() {
			t.Log(buf.String())
		}
	}()

	seen := map[string]int{}
	for i, line := range strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("line %d is not JSON: %v: %s", i+1, err, line)
		}
		for _, k := range []string{"time", "level", "msg"} {
			if s, _ := m[k].(string); s == "" {
				t.Errorf("line %d lacks %q: %s", i+1, k, line)
			}
		}
		msg, _ := m["msg"].(string)
		seen[msg]++
		var want []string
		switch msg {
		case "finished call":
			want = []string{"grpc.service", "grpc.method", "grpc.code", "peer", "peer.address"}
		case "append refused":
			want = []string{"grpc.service", "grpc.method", "grpc.code", "peer", "peer.address", "reason", "error"}
		case "TLS handshake refused":
			want = []string{"peer", "peer.address", "reason", "error"}
		}
		if _, ok := m["grpc.method"]; ok && want == nil {
			t.Errorf("line %d names a method but is no known request line: %s", i+1, line)
		}
		for _, k := range want {
			if s, _ := m[k].(string); s == "" {
				t.Errorf("line %d (%s) lacks %q: %s", i+1, msg, k, line)
			}
		}
	}
	for _, msg := range []string{"serving", "finished call", "append refused", "TLS handshake refused"} {
		if seen[msg] == 0 {
			t.Errorf("no %q line in the log (lines: %v)", msg, seen)
		}
	}
}
