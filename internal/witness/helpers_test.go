package witness_test

// Real parts only: a dev PKI (devpki), the exchange's server on loopback
// with mutual TLS and a bbolt file (testenv), witnesses served over real
// HTTP on loopback (this package's Handler, litewitness), real signatures.

import (
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/mvm-exchange/mvm/client/mvmclient"
	"github.com/mvm-exchange/mvm/internal/devpki"
	"github.com/mvm-exchange/mvm/internal/server"
	"github.com/mvm-exchange/mvm/internal/testenv"
	"github.com/mvm-exchange/mvm/internal/tlog"
	"github.com/mvm-exchange/mvm/internal/witness"
	mvmv1 "github.com/mvm-exchange/mvm/proto/mvm/v1"
)

func ctxT(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// pki generates a dev PKI in a temporary directory.
func pki(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if err := devpki.Generate(devpki.Options{Dir: dir}); err != nil {
		t.Fatal(err)
	}
	return dir
}

// readFile is a file of the PKI, trimmed.
func readFile(t *testing.T, dir, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

// logKeys are the log's signer and verifier from the PKI.
func logKeys(t *testing.T, dir string) (note.Signer, note.Verifier) {
	t.Helper()
	s, err := note.NewSigner(readFile(t, dir, "log.key"))
	if err != nil {
		t.Fatal(err)
	}
	v, err := note.NewVerifier(readFile(t, dir, "log.vkey"))
	if err != nil {
		t.Fatal(err)
	}
	return s, v
}

// newWitnessKey makes a cosigner key for name and lists it in the
// agreement of dir; it returns the signing key.
func newWitnessKey(t *testing.T, dir, name string) (skey, vkey string) {
	t.Helper()
	skey, vkey, err := tlog.GenerateCosignerKey(name)
	if err != nil {
		t.Fatal(err)
	}
	if err := devpki.AddWitness(dir, name, vkey); err != nil {
		t.Fatal(err)
	}
	return skey, vkey
}

// served is a witness handler behind a recording front, served over
// HTTP on a loopback port that survives restarts.
type served struct {
	t    *testing.T
	addr string
	h    http.Handler
	srv  *http.Server
	mu   sync.Mutex
	log  []exchange // every request and its answer
}

// exchange is one add-checkpoint request as the witness saw it.
type exchange struct {
	old    uint64
	size   uint64 // of the checkpoint sent
	status int
}

func serve(t *testing.T, h http.Handler) *served {
	t.Helper()
	s := &served{t: t, addr: "127.0.0.1:0", h: h}
	s.start()
	t.Cleanup(s.stop)
	return s
}

func (s *served) URL() string { return "http://" + s.addr }

func (s *served) start() {
	s.t.Helper()
	lis, err := net.Listen("tcp", s.addr)
	if err != nil {
		s.t.Fatal(err)
	}
	s.addr = lis.Addr().String()
	s.srv = &http.Server{Handler: http.HandlerFunc(s.serveHTTP), ReadHeaderTimeout: 5 * time.Second}
	go s.srv.Serve(lis)
}

func (s *served) stop() {
	if s.srv != nil {
		s.srv.Close()
		s.srv = nil
	}
}

// serveHTTP records the old size of each request and the status answered.
func (s *served) serveHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	r.Body = io.NopCloser(strings.NewReader(string(body)))
	rec := &statusWriter{ResponseWriter: w, status: http.StatusOK}
	s.h.ServeHTTP(rec, r)
	var old, size uint64
	line, _, _ := strings.Cut(string(body), "\n")
	_, _ = fmtSscan(strings.TrimPrefix(line, "old "), &old)
	if _, cp, ok := strings.Cut(string(body), "\n\n"); ok {
		if f := strings.SplitN(cp, "\n", 3); len(f) == 3 {
			_, _ = fmtSscan(f[1], &size)
		}
	}
	s.mu.Lock()
	s.log = append(s.log, exchange{old, size, rec.status})
	s.mu.Unlock()
}

func (s *served) exchanges() []exchange {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]exchange(nil), s.log...)
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	w.status = code
	w.ResponseWriter.WriteHeader(code)
}

// ourWitness is this package's Handler for the log of dir, with its
// state in a file.
func ourWitness(t *testing.T, dir, skey, stateFile string) *witness.Handler {
	t.Helper()
	_, v := logKeys(t, dir)
	return &witness.Handler{Origin: v.Name(), LogKey: v, Key: skey, State: witness.FileState(stateFile),
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
}

// fast makes the pushes quick for tests and points the server at the
// witnesses.
func fast(targets ...witness.Target) func(*server.Config) {
	return func(c *server.Config) {
		c.Witnesses = targets
		c.WitnessInterval = 5 * time.Millisecond
		c.WitnessBackoff = 20 * time.Millisecond
		c.WitnessTimeout = 2 * time.Second
	}
}

// appendN appends n target packages as the submitter and returns the
// log's size after them.
func appendN(t *testing.T, e *testenv.Env, n int) uint64 {
	t.Helper()
	c := e.Client(testenv.Submitter)
	for range n {
		if _, err := c.Append(ctxT(t), pkg()); err != nil {
			t.Fatal(err)
		}
	}
	return e.Server.Ledger().Head().Size
}

// pkg is a new target package.
func pkg() *mvmv1.TargetPackage {
	return &mvmv1.TargetPackage{
		Header:         mvmclient.NewHeader(),
		Locations:      []*mvmv1.Location{{Lat: 34.0151, Lon: 71.5249, PrecisionM: 50, Description: "compound"}},
		SuspectedGroup: "group",
		Summary:        "suspected safe house near the market",
		Priority:       mvmv1.Priority_PRIORITY_HIGH,
		Tlp:            mvmv1.Tlp_TLP_AMBER,
		EvidenceSha256: [][]byte{digest("evidence")},
	}
}

func digest(s string) []byte { d := sha256.Sum256([]byte(s)); return d[:] }

// cosignedBy waits until the server's checkpoint of size holds a
// cosignature line of the witness named name, and returns the checkpoint
// with its cosignatures and the server's witness count.
func cosignedBy(t *testing.T, e *testenv.Env, size uint64, name string) ([]byte, uint32) {
	t.Helper()
	c := e.Client(testenv.Mediator)
	deadline := time.Now().Add(15 * time.Second)
	for {
		r, err := c.API.GetCheckpoint(ctxT(t), &mvmv1.GetCheckpointRequest{Size: size})
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(r.Checkpoint), "\n— "+name+" ") {
			return r.Checkpoint, r.Cosigners
		}
		if time.Now().After(deadline) {
			t.Fatalf("the checkpoint of size %d was not cosigned by %s in 15s:\n%s", size, name, r.Checkpoint)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func fmtSscan(s string, v *uint64) (int, error) { return fmt.Sscan(s, v) }

// withMetrics serves the server's metrics on a loopback port.
func withMetrics(c *server.Config) { c.Metrics = "127.0.0.1:0" }

// scrape returns the server's metrics.
func scrape(t *testing.T, e *testenv.Env) string {
	t.Helper()
	resp, err := http.Get("http://" + e.Server.MetricsAddr() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
