package service_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"google.golang.org/grpc/codes"

	"github.com/mvm-exchange/mvm/internal/devpki"
	"github.com/mvm-exchange/mvm/internal/server"
	"github.com/mvm-exchange/mvm/internal/testenv"
	mvmv1 "github.com/mvm-exchange/mvm/proto/mvm/v1"
)

// scrape reads the server's /metrics over HTTP.
func scrape(t *testing.T, addr string) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatalf("scrape: %v", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("scrape: %s", resp.Status)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("scrape: parse: %v", err)
	}
	return fams
}

// metric sums the series of name whose labels include labels: counter and
// gauge values, histogram sample counts (field "count") or sums ("sum").
func metric(fams map[string]*dto.MetricFamily, name, field string, labels ...string) float64 {
	var total float64
	f := fams[name]
	if f == nil {
		return 0
	}
series:
	for _, m := range f.Metric {
		for i := 0; i+1 < len(labels); i += 2 {
			found := false
			for _, l := range m.Label {
				found = found || (l.GetName() == labels[i] && l.GetValue() == labels[i+1])
			}
			if !found {
				continue series
			}
		}
		switch {
		case m.Counter != nil:
			total += m.Counter.GetValue()
		case m.Gauge != nil:
			total += m.Gauge.GetValue()
		case m.Histogram != nil && field == "sum":
			total += m.Histogram.GetSampleSum()
		case m.Histogram != nil:
			total += float64(m.Histogram.GetSampleCount())
		}
	}
	return total
}

// waitMetric scrapes until metric(...) is want, for at most 3 s.
func waitMetric(t *testing.T, addr string, want float64, name string, labels ...string) {
	t.Helper()
	waitFor(t, addr, want, false, name, labels...)
}

// waitFor scrapes until metric(...) is want (or more, if atLeast), for at
// most 3 s: the server counts a refused handshake after its client may
// already have seen the refusal.
func waitFor(t *testing.T, addr string, want float64, atLeast bool, name string, labels ...string) {
	t.Helper()
	var got float64
	for deadline := time.Now().Add(3 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if got = metric(scrape(t, addr), name, "", labels...); got == want || atLeast && got > want {
			return
		}
	}
	t.Fatalf("%s%v = %v, want %v (at least: %v)", name, labels, got, want, atLeast)
}

// TestMetrics scrapes /metrics of a real server while real clients append,
// are refused, fail their handshakes and watch, over mTLS: every metric
// moves as it should, starting from a server of its own (a registry per
// server: two run in this process).
func TestMetrics(t *testing.T) {
	env := testenv.New(t, func(c *server.Config) { c.Metrics = "127.0.0.1:0" })
	other := testenv.New(t, func(c *server.Config) { c.Metrics = "127.0.0.1:0" })
	f := &fixture{env: env, v: logVerifier(t, env.Certs)}
	f.dial(t)
	addr := env.Server.MetricsAddr()
	if addr == "" || addr == other.Server.MetricsAddr() {
		t.Fatalf("metrics addresses %q and %q", addr, other.Server.MetricsAddr())
	}
	before := scrape(t, addr)
	if got := metric(before, "mvm_tree_size", ""); got != 1 {
		t.Fatalf("mvm_tree_size before appends = %v, want 1 (the agreement)", got)
	}

	const appends = 3
	for range appends {
		mustAppend(t, f.pk(), targetPackage())
	}
	_, err := f.af().Append(ctxT(t), targetPackage()) // a responder may not submit
	wantCode(t, err, codes.PermissionDenied)
	// And on an append stream.
	_, err = appender(t, f.af()).AppendSealed(seal(t, f.af(), targetPackage()))
	wantCode(t, err, codes.PermissionDenied)

	// Handshakes refused: no certificate, and one from an unknown CA.
	conn, _ := rawConn(t, f, "", "")
	if _, err := mvmv1.NewExchangeServiceClient(conn).GetCheckpoint(ctxT(t), &mvmv1.GetCheckpointRequest{}); err == nil {
		t.Fatal("a call without a client certificate succeeded")
	}
	foreign := t.TempDir()
	if err := devpki.Generate(devpki.Options{Dir: foreign}); err != nil {
		t.Fatal(err)
	}
	conn, _ = rawConn(t, f, foreign, testenv.Submitter)
	if _, err := mvmv1.NewExchangeServiceClient(conn).GetCheckpoint(ctxT(t), &mvmv1.GetCheckpointRequest{}); err == nil {
		t.Fatal("a call from a foreign CA succeeded")
	}

	// A call refused by the auth interceptor (its certificate revoked
	// since the connection opened) is counted too: the metrics come first.
	if err := devpki.Issue(env.Certs, "pk-second", "pk", devpki.IssueOptions{}); err != nil {
		t.Fatal(err)
	}
	second := env.Client("pk-second")
	if _, err := second.API.GetCheckpoint(ctxT(t), &mvmv1.GetCheckpointRequest{}); err != nil {
		t.Fatal(err)
	}
	if err := devpki.Revoke(env.Certs, "pk-second", time.Time{}); err != nil {
		t.Fatal(err)
	}
	if err := env.Server.Reload(); err != nil {
		t.Fatal(err)
	}
	_, err = second.API.GetCheckpoint(ctxT(t), &mvmv1.GetCheckpointRequest{})
	wantCode(t, err, codes.Unauthenticated)

	waitFor(t, addr, 1, true, "mvm_handshakes_refused_total", "reason", "no_certificate")
	waitFor(t, addr, 1, true, "mvm_handshakes_refused_total", "reason", "unknown_authority")
	got := scrape(t, addr)
	for _, c := range []struct {
		name    string
		field   string
		labels  []string
		want    float64
		atLeast bool
	}{
		{"grpc_server_handled_total", "", []string{"grpc_method", "Append", "grpc_code", "OK"}, appends, false},
		{"grpc_server_handled_total", "", []string{"grpc_method", "Append", "grpc_code", "PermissionDenied"}, 1, false},
		{"grpc_server_handling_seconds", "count", []string{"grpc_method", "Append"}, appends + 1, false},
		{"grpc_server_handled_total", "", []string{"grpc_method", "GetCheckpoint", "grpc_code", "Unauthenticated"}, 1, false},
		{"mvm_tree_size", "", nil, 1 + appends, false},
		{"mvm_commit_batch_entries", "sum", nil, appends, false},
		{"mvm_commit_batch_entries", "count", nil, 1, true},
		{"mvm_commit_seconds", "count", nil, metric(got, "mvm_commit_batch_entries", "count"), false},
		{"mvm_commit_seconds", "sum", nil, 1e-9, true},
		{"mvm_appends_refused_total", "", []string{"reason", "PermissionDenied"}, 2, false},
		{"mvm_appends_refused_total", "", nil, 2, false},
		// A client may try its handshake again in the background.
		{"mvm_handshakes_refused_total", "", []string{"reason", "no_certificate"}, 1, true},
		{"mvm_handshakes_refused_total", "", []string{"reason", "unknown_authority"}, 1, true},
		{"mvm_watch_streams", "", nil, 0, false},
		{"go_goroutines", "", nil, 1, true},
	} {
		v := metric(got, c.name, c.field, c.labels...)
		if v != c.want && !(c.atLeast && v >= c.want) {
			t.Errorf("%s %s%v = %v, want %v (at least: %v)", c.name, c.field, c.labels, v, c.want, c.atLeast)
		}
	}
	// The other server's registry saw none of it.
	if v := metric(scrape(t, other.Server.MetricsAddr()), "mvm_tree_size", ""); v != 1 {
		t.Errorf("the other server's mvm_tree_size = %v, want 1", v)
	}

	// A Watch stream open is counted while it is open.
	recv, cancel := f.watch(t, 0)
	if _, err := recv(); err != nil {
		t.Fatalf("watch: %v", err)
	}
	waitMetric(t, addr, 1, "mvm_watch_streams")
	cancel()
	waitMetric(t, addr, 0, "mvm_watch_streams")
}

// TestMetricsBadAddress: a --metrics address that cannot be bound fails
// Start with the flag's name, and closes the database.
func TestMetricsBadAddress(t *testing.T) {
	env := testenv.New(t)
	db := t.TempDir() + "/mvm.db"
	_, err := server.Start(server.Config{Listen: "127.0.0.1:0", DB: db, CertsDir: env.Certs,
		Metrics: "127.0.0.1:99999"})
	if err == nil || !strings.Contains(err.Error(), "--metrics") {
		t.Fatalf("Start with a bad --metrics: %v, want an error naming --metrics", err)
	}
	// The database was closed: a server starts on it (bbolt's lock would
	// make it wait 2 s and fail).
	testenv.Start(t, env.Certs, db)
}
