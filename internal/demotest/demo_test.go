package demotest

import (
	"context"
	"errors"
	"fmt"
	"github.com/mvm-exchange/mvm/internal/testenv"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Bounds of one demo run. The demo builds three binaries, starts a server
// twice and two nodes, and makes about twenty client calls; on a loaded
// two-core machine, with other packages' tests beside it, that takes
// about a minute.
const (
	demoRuns    = 3
	demoTimeout = 4 * time.Minute
	// portBusyExit is demo.sh's exit status when its address was taken.
	portBusyExit = 3
	portTries    = 3
)

// repoRoot is the module root (the test runs in internal/demotest).
func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Fatalf("module root not found: %v", err)
	}
	return root
}

func TestDemo(t *testing.T) {
	if testing.Short() {
		t.Skipf("skipped with -short: runs scripts/demo.sh %d times at once end to end (builds, starts servers)", demoRuns)
	}
	if _, err := exec.LookPath("bash"); err != nil {
		t.Skip("scripts/demo.sh needs bash")
	}
	root := repoRoot(t)
	// Goroutines rather than parallel subtests: -parallel defaults to
	// GOMAXPROCS, which would run only two at once on two cores.
	results := make([]demoResult, demoRuns)
	var wg sync.WaitGroup
	for i := range results {
		dir := t.TempDir()
		wg.Go(func() { results[i] = runDemo(t, root, dir) })
	}
	wg.Wait()
	for i, r := range results {
		t.Run(strconv.Itoa(i), func(t *testing.T) { r.check(t) })
	}
}

// TestDemoPortTaken: a demo whose address is taken says so and exits 3,
// instead of auditing whatever answers there.
func TestDemoPortTaken(t *testing.T) {
	if testing.Short() {
		t.Skip("skipped with -short: builds and runs scripts/demo.sh")
	}
	if _, err := exec.LookPath("bash"); err != nil {
		t.Skip("scripts/demo.sh needs bash")
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	dir := t.TempDir()
	out, err := demo(t, repoRoot(t), dir, l.Addr().String())
	if ee, ok := errors.AsType[*exec.ExitError](err); !ok || ee.ExitCode() != portBusyExit {
		t.Fatalf("demo.sh on a taken address: %v, want exit status %d:\n%s", err, portBusyExit, out)
	}
	if want := "demo: something already listens on " + l.Addr().String() + ": stop it, or choose another address with MVM_SERVER=127.0.0.1:PORT\n"; !strings.Contains(string(out), want) {
		t.Errorf("demo.sh output lacks %q:\n%s", want, out)
	}
	if _, err := os.Stat(filepath.Join(dir, "data", "mvm.db")); err == nil {
		t.Errorf("demo.sh started a server (it made %s/data/mvm.db)", dir)
	}
}

// demoResult is one run of demo.sh in its own scratch directory.
type demoResult struct {
	dir, addr string
	out       []byte
	err       error
	tries     int
}

// runDemo runs demo.sh with fresh MVM_CERTS, MVM_DB and TMPDIR under dir
// and a loopback port that was free a moment ago; it tries another port if
// the demo found its port taken (another test may have picked it too).
func runDemo(t *testing.T, root, dir string) demoResult {
	r := demoResult{dir: dir}
	for r.tries = 1; ; r.tries++ {
		addr, err := testenv.FreeAddr()
		if err != nil {
			r.err = err
			return r
		}
		r.addr = addr
		r.out, r.err = demo(t, root, dir, r.addr)
		if ee, ok := errors.AsType[*exec.ExitError](r.err); !ok || ee.ExitCode() != portBusyExit || r.tries == portTries {
			return r
		}
	}
}

// demo runs scripts/demo.sh once. On timeout the script's whole process
// group gets SIGTERM, so that its exit trap stops the server, then SIGKILL.
func demo(t *testing.T, root, dir, addr string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(t.Context(), demoTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", filepath.Join(root, "scripts", "demo.sh"))
	cmd.Env = append(os.Environ(),
		"MVM_CERTS="+filepath.Join(dir, "certs"),
		"MVM_DB="+filepath.Join(dir, "data", "mvm.db"),
		"MVM_SERVER="+addr,
		"TMPDIR="+dir)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM) }
	cmd.WaitDelay = 20 * time.Second
	out, err := cmd.CombinedOutput()
	if cmd.Process != nil {
		// Whatever is left of the group (nothing, normally) goes now.
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}
	if ctx.Err() != nil {
		err = fmt.Errorf("demo.sh did not finish within %v: %w", demoTimeout, err)
	}
	return out, err
}

var (
	logLine  = regexp.MustCompile(`(?m)^== starting the server on (\S+) \(database (\S+), log (\S+)\)$`)
	nodeLine = regexp.MustCompile(`(?m)^== starting (tr-node|qa-node): following (\S+), verifying every entry into (\S+) \(log (\S+)\)$`)
	nodeAddr = regexp.MustCompile(`(?m)^(tr-node|qa-node) serves reads on (\S+) and the C2SP witness endpoint on https://(\S+)$`)
)

func (r demoResult) check(t *testing.T) {
	if r.err != nil {
		t.Fatalf("demo.sh on %s (%d tries): %v\n%s", r.addr, r.tries, r.err, r.out)
	}
	out := string(r.out)
	for _, want := range []string{"\naudit: OK\n", "\n== audit passed\n",
		// Its own log only: three packages, three acknowledgements, two
		// reports, one evidence submission and the agreement. A demo that
		// reached another's server would audit more.
		"\nverified 10 entries: ",
		// Witnessed by both nodes, on the server and on a node's copy,
		// as the client counts it under the agreement.
		"): 2/2 mediators, witnessed; cosigners: tr-node, qa-node\n",
		"\ncosignatures on it: 2/2 mediators, witnessed; cosigners: tr-node, qa-node\n",
		"\n— tr-node ", "\n— qa-node ",
		// Each node's status: caught up, no alarm.
		"\nrole: node\nsize: 10\nverified: 10\nprimary: " + r.addr + "\nprimary size: 10\nlag: 0 entries\n",
		// Each node serves with its own certificate, not the primary's.
		"\ntr-node serves with its own TLS certificate " + filepath.Join(r.dir, "certs", "tr-node-server.crt") + "\n",
		"\nqa-node serves with its own TLS certificate " + filepath.Join(r.dir, "certs", "qa-node-server.crt") + "\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("demo.sh output lacks %q:\n%s", want, out)
		}
	}
	if n := strings.Count(out, "\naudit: OK\n"); n != 2 {
		t.Errorf("demo.sh passed %d audits, want 2 (the server's log and a node's copy):\n%s", n, out)
	}
	// The log it names is the log the server wrote, and the server
	// stopped when asked.
	m := logLine.FindStringSubmatch(out)
	if m == nil || m[1] != r.addr || m[2] != filepath.Join(r.dir, "data", "mvm.db") {
		t.Fatalf("demo.sh does not say it starts the server on %s with database %s/data/mvm.db:\n%s", r.addr, r.dir, out)
	}
	log, err := os.ReadFile(m[3])
	if err != nil {
		t.Fatalf("the server log the demo names: %v", err)
	}
	// Started twice (the second time pushing to the nodes), stopped twice.
	for _, want := range []string{"msg=serving addr=" + r.addr, "msg=stopping signal=terminated"} {
		if n := strings.Count(string(log), want); n != 2 {
			t.Errorf("server log %s holds %q %d times, want 2:\n%s", m[3], want, n, log)
		}
	}
	listening := []string{r.addr}
	// Each node followed this demo's server, served where it said, and
	// stopped when asked.
	nodes := nodeLine.FindAllStringSubmatch(out, -1)
	addrs := nodeAddr.FindAllStringSubmatch(out, -1)
	if len(nodes) != 2 || len(addrs) != 2 {
		t.Fatalf("demo.sh does not say it starts tr-node and qa-node and where they serve:\n%s", out)
	}
	for i, n := range nodes {
		if n[2] != r.addr || addrs[i][1] != n[1] {
			t.Errorf("%s follows %s (want %s), addresses of %s", n[1], n[2], r.addr, addrs[i][1])
		}
		nlog, err := os.ReadFile(n[4])
		if err != nil {
			t.Fatalf("the log of %s the demo names: %v", n[1], err)
		}
		for _, want := range []string{"msg=serving addr=" + addrs[i][2], `msg="node: witness endpoint serving" addr=` + addrs[i][3], "msg=stopping signal=terminated"} {
			if !strings.Contains(string(nlog), want) {
				t.Errorf("%s log %s lacks %q:\n%s", n[1], n[4], want, nlog)
			}
		}
		listening = append(listening, addrs[i][2], addrs[i][3])
	}
	for _, addr := range listening {
		if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			c.Close()
			t.Errorf("something still listens on %s after the demo", addr)
		}
	}
	// Its build directory is gone.
	left, err := filepath.Glob(filepath.Join(r.dir, "mvm-demo.*"))
	if err != nil || len(left) > 0 {
		t.Errorf("demo.sh left %q behind (%v)", left, err)
	}
}
