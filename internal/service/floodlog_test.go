package service_test

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/mvm-exchange/mvm/internal/server"
	"github.com/mvm-exchange/mvm/internal/service"
	"github.com/mvm-exchange/mvm/internal/testenv"
	mvmv1 "github.com/mvm-exchange/mvm/proto/mvm/v1"
)

// floodEnv is a server logging JSON at info level into buf, with metrics,
// and a refusal log of burst lines per peer per window.
func floodEnv(t *testing.T, buf *syncBuffer, burst int, window time.Duration) *fixture {
	t.Helper()
	env := testenv.New(t, func(c *server.Config) {
		c.Logger = slog.New(slog.NewJSONHandler(buf, nil))
		c.Metrics = "127.0.0.1:0"
		c.RefusalLog = service.RefusalLog{Burst: burst, Window: window}
	})
	f := &fixture{env: env, v: logVerifier(t, env.Certs)}
	f.dial(t)
	return f
}

// jsonLines returns the log lines whose msg is msg, decoded.
func (s *syncBuffer) jsonLines(t *testing.T, msg string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, l := range s.lines(`"msg":"` + msg + `"`) {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("log line is not JSON: %v: %s", err, l)
		}
		out = append(out, m)
	}
	return out
}

// wantSummary finds the one summary line of kind about peer and checks
// its count.
func wantSummary(t *testing.T, buf *syncBuffer, kind, peer string, want int) {
	t.Helper()
	var found []map[string]any
	for _, m := range buf.jsonLines(t, "refusals suppressed") {
		if m["kind"] == kind && m["peer"] == peer {
			found = append(found, m)
		}
	}
	if len(found) != 1 || found[0]["suppressed"] != float64(want) {
		t.Fatalf("summaries of %s refusals from %s: %v, want one with suppressed=%d", kind, peer, found, want)
	}
}

// TestRefusalFloodHandshakes: a client without a certificate hammering
// the server gets burst log lines, and one summary counting the rest.
func TestRefusalFloodHandshakes(t *testing.T) {
	var buf syncBuffer
	const burst, flood = 3, 40
	f := floodEnv(t, &buf, burst, time.Hour)
	caPEM, err := os.ReadFile(filepath.Join(f.env.Certs, "ca-server.crt"))
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(caPEM)
	for range flood {
		c, err := tls.Dial("tcp", f.env.Addr, &tls.Config{MinVersion: tls.VersionTLS13, RootCAs: roots, ServerName: "localhost"})
		if err == nil {
			// TLS 1.3: the server's refusal arrives with the first read.
			c.SetReadDeadline(time.Now().Add(5 * time.Second))
			_, err = c.Read(make([]byte, 1))
			c.Close()
		}
		if err == nil || !strings.Contains(err.Error(), "certificate required") {
			t.Fatalf("handshake without a certificate: %v, want certificate required", err)
		}
	}
	waitMetric(t, f.env.Server.MetricsAddr(), flood, "mvm_handshakes_refused_total", "reason", "no_certificate")
	if l := buf.jsonLines(t, "TLS handshake refused"); len(l) != burst {
		t.Fatalf("%d handshake refusal lines for %d refusals, want %d", len(l), flood, burst)
	}
	f.env.Stop() // writes the pending summaries
	wantSummary(t, &buf, "handshake", "127.0.0.1", flood-burst)
}

// TestRefusalFloodAppends: one identity's refused appends are bounded in
// the log; another identity's refusal is still logged; the summary comes
// when the window ends, and then the peer's lines are logged again.
func TestRefusalFloodAppends(t *testing.T) {
	var buf syncBuffer
	const burst, flood = 3, 20
	const window = 1500 * time.Millisecond
	f := floodEnv(t, &buf, burst, window)
	start := time.Now()
	for range flood {
		_, err := f.af().Append(ctxT(t), targetPackage()) // a responder may not submit
		wantCode(t, err, codes.PermissionDenied)
	}
	if time.Since(start) > window {
		t.Skipf("the flood took %v, longer than the window: the counts below would not be exact", time.Since(start))
	}
	_, err := f.pk().API.Append(ctxT(t), &mvmv1.AppendRequest{})
	wantCode(t, err, codes.InvalidArgument)

	lines := buf.jsonLines(t, "append refused")
	byPeer := map[any]int{}
	for _, l := range lines {
		byPeer[l["peer"]]++
	}
	if byPeer["af/af-interior"] != burst || byPeer["pk/pk-liaison"] != 1 {
		t.Fatalf("refusal lines by peer %v, want af/af-interior: %d, pk/pk-liaison: 1", byPeer, burst)
	}
	// The summary comes by itself once the window ended.
	deadline := time.Now().Add(5 * time.Second)
	for len(buf.jsonLines(t, "refusals suppressed")) == 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	wantSummary(t, &buf, "append", "af/af-interior", flood-burst)
	_, err = f.af().Append(ctxT(t), targetPackage())
	wantCode(t, err, codes.PermissionDenied)
	if l := buf.jsonLines(t, "append refused"); len(l) != len(lines)+1 {
		t.Fatalf("after the window: %d refusal lines, want %d", len(l), len(lines)+1)
	}
}

// TestRefusalFloodCalls: the lines of one identity's failed reads (the
// logging interceptor's, not only the append refusals') are bounded too,
// with one summary counting the rest.
func TestRefusalFloodCalls(t *testing.T) {
	var buf syncBuffer
	const burst, flood = 3, 20
	f := floodEnv(t, &buf, burst, time.Hour)
	for range flood {
		_, err := f.af().API.GetPackage(ctxT(t), &mvmv1.GetPackageRequest{PackageId: "no-such-package"})
		wantCode(t, err, codes.NotFound)
	}
	n := 0
	for _, l := range buf.jsonLines(t, "finished call") {
		if l["grpc.code"] == "NotFound" {
			n++
		}
	}
	if n != burst {
		t.Fatalf("%d lines for %d failed calls, want %d", n, flood, burst)
	}
	f.env.Stop() // writes the pending summaries
	wantSummary(t, &buf, "call", "af/af-interior", flood-burst)
}
