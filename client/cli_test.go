package main

// The command line tested as a user uses it: the scripts in testdata/*.txtar
// run the real server and client binaries, built once by TestMain, against
// a fresh dev PKI and a fresh database per script. See TestScripts for the
// environment and the commands a script may use.

import (
	"encoding/binary"
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
	"syscall"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"
	bolt "go.etcd.io/bbolt"

	"github.com/mvm-exchange/mvm/internal/devpki"
	"github.com/mvm-exchange/mvm/internal/entry"
)

var (
	// repoRoot is the module root (the test runs in client/).
	repoRoot string
	// binDir holds the server and client binaries built by TestMain.
	binDir string
	// goEnv is what a script needs to run the go command itself
	// (scripts/gen-certs.sh does `go run`): testscript sets HOME to
	// /no-home, so the caches must be named explicitly.
	goEnv []string
)

func TestMain(m *testing.M) {
	os.Exit(testMain(m))
}

func testMain(m *testing.M) int {
	if err := build(); err != nil {
		fmt.Fprintln(os.Stderr, "client tests:", err)
		return 1
	}
	defer os.RemoveAll(binDir)
	return m.Run()
}

// build compiles ./server and ./client into binDir and records the go
// environment for scripts.
func build() error {
	var err error
	if repoRoot, err = filepath.Abs(".."); err != nil {
		return err
	}
	if _, err := os.Stat(filepath.Join(repoRoot, "go.mod")); err != nil {
		return fmt.Errorf("module root not found from %s: %w", repoRoot, err)
	}
	if binDir, err = os.MkdirTemp("", "mvm-cli-test-"); err != nil {
		return err
	}
	cmd := exec.Command("go", "build", "-o", binDir+string(os.PathSeparator), "./server", "./client")
	cmd.Dir = repoRoot
	if out, err := cmd.CombinedOutput(); err != nil {
		os.RemoveAll(binDir)
		return fmt.Errorf("go build ./server ./client: %v\n%s", err, out)
	}
	vars := []string{"GOCACHE", "GOMODCACHE", "GOPATH", "GOFLAGS", "GOPROXY", "GONOSUMDB", "GONOPROXY",
		"GOPRIVATE", "GOSUMDB", "GOINSECURE", "GOTOOLCHAIN"}
	out, err := exec.Command("go", append([]string{"env"}, vars...)...).Output()
	if err != nil {
		return fmt.Errorf("go env: %v", err)
	}
	for i, v := range strings.Split(strings.TrimSuffix(string(out), "\n"), "\n") {
		if i < len(vars) && v != "" {
			goEnv = append(goEnv, vars[i]+"="+v)
		}
	}
	return nil
}

// TestScripts runs testdata/*.txtar. Each script starts in an empty $WORK
// with:
//
//   - server and client on PATH (the binaries of this tree);
//   - a fresh dev PKI in $WORK/certs, and MVM_CERTS=$WORK/certs;
//   - MVM_SERVER=127.0.0.1:PORT, a loopback port free when the script
//     started; the client uses both as its --certs and --server defaults;
//   - REPO, the module root (for scripts/gen-certs.sh), and the go
//     environment (GOCACHE, GOMODCACHE, ...) so that `go run` works.
//
// Commands beyond testscript's own:
//
//	startserver [ARGS]      start `server --listen $MVM_SERVER --db $WORK/data/mvm.db
//	                        --certs $MVM_CERTS ARGS` in the background and wait until it
//	                        accepts connections; its output is appended to
//	                        $WORK/server.log. `! startserver` expects it to exit
//	                        with a failure instead (grep server.log for why).
//	stopserver              SIGTERM the server, wait, expect exit status 0.
//	killserver              SIGKILL the server and wait.
//	hupserver               SIGHUP the server and wait until it logs that it reloaded
//	                        its certificate and CRLs.
//	execstatus N PROG [ARGS]  like exec, but expect exit status N exactly (the
//	                        client exits 1 on a failure, 2 on a command line mistake),
//	                        and a stderr that does not repeat a "word:" prefix.
//	capture NAME            set $NAME to the first line of the last stdout
//	                        (submit prints the package id first).
//	flipentry DB INDEX      flip one byte in the middle of stored entry INDEX of the
//	                        bbolt file DB (the server must be stopped).
//	retimeentry DB INDEX D  move the receive time of stored entry INDEX by the Go
//	                        duration D, leaving it well-formed (the server must be stopped).
//	perm MODE FILE...       expect each FILE to have exactly permission bits MODE (octal).
//	expiredcert NAME PARTY  issue $MVM_CERTS/NAME.crt/.key for PARTY, valid for an hour
//	                        that ended a day ago (signed by the party's CA).
//
// A server left running at the end of a script is stopped by SIGTERM.
func TestScripts(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir:                 "testdata",
		RequireExplicitExec: true,
		RequireUniqueNames:  true,
		Setup:               setup,
		Cmds: map[string]func(*testscript.TestScript, bool, []string){
			"startserver": cmdStartServer,
			"stopserver":  cmdStopServer,
			"killserver":  cmdKillServer,
			"hupserver":   cmdHupServer,
			"execstatus":  cmdExecStatus,
			"capture":     cmdCapture,
			"flipentry":   cmdFlipEntry,
			"retimeentry": cmdRetimeEntry,
			"perm":        cmdPerm,
			"expiredcert": cmdExpiredCert,
		},
	})
}

// stateKey keys a script's *scriptState in testscript's Env.Values.
type stateKey struct{}

// scriptState is what the custom commands of one script share.
type scriptState struct {
	server *serverProc
}

// serverProc is a server started by startserver.
type serverProc struct {
	cmd  *exec.Cmd
	log  *os.File
	done chan struct{} // closed when cmd.Wait returns
	err  error         // cmd.Wait's result, set before done is closed
}

func setup(e *testscript.Env) error {
	certs := filepath.Join(e.WorkDir, "certs")
	if err := devpki.Generate(devpki.Options{Dir: certs}); err != nil {
		return err
	}
	port, err := freePort()
	if err != nil {
		return err
	}
	e.Setenv("PATH", binDir+string(os.PathListSeparator)+e.Getenv("PATH"))
	e.Setenv("MVM_SERVER", "127.0.0.1:"+strconv.Itoa(port))
	e.Setenv("MVM_CERTS", certs)
	e.Setenv("REPO", repoRoot)
	for _, kv := range goEnv {
		k, v, _ := strings.Cut(kv, "=")
		e.Setenv(k, v)
	}
	st := &scriptState{}
	e.Values[stateKey{}] = st
	e.Defer(func() {
		if st.server != nil {
			st.server.stop(syscall.SIGTERM)
		}
	})
	return nil
}

// freePort returns a loopback TCP port that was free a moment ago, below
// the ephemeral range so that no client's outgoing connection takes it
// before the server binds it (testenv.FreePort).
func freePort() (int, error) { return testenv.FreePort() }

func state(ts *testscript.TestScript) *scriptState {
	return ts.Value(stateKey{}).(*scriptState)
}

const serverWait = 10 * time.Second

func cmdStartServer(ts *testscript.TestScript, neg bool, args []string) {
	st := state(ts)
	if st.server != nil {
		ts.Fatalf("startserver: a server is already running")
	}
	logPath := ts.MkAbs("server.log")
	// Ready means accepting connections and having logged "serving" (the
	// port accepts before that line is written; scripts grep for it).
	servingBefore := countServing(logPath)
	log, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	ts.Check(err)
	addr := ts.Getenv("MVM_SERVER")
	cmd := exec.Command(filepath.Join(binDir, "server"), append([]string{
		"--listen", addr,
		"--db", ts.MkAbs(filepath.Join("data", "mvm.db")),
		"--certs", ts.Getenv("MVM_CERTS"),
	}, args...)...)
	cmd.Dir = ts.MkAbs(".")
	cmd.Env = []string{"PATH=" + ts.Getenv("PATH"), "HOME=" + ts.Getenv("HOME"), "TMPDIR=" + ts.Getenv("TMPDIR")}
	var out strings.Builder // this run's output, for failure messages
	cmd.Stdout, cmd.Stderr = log, multiWriter{log, &out}
	if err := cmd.Start(); err != nil {
		log.Close()
		ts.Fatalf("startserver: %v", err)
	}
	p := &serverProc{cmd: cmd, log: log, done: make(chan struct{})}
	go func() { p.err = cmd.Wait(); close(p.done) }()

	deadline := time.Now().Add(serverWait)
	for {
		select {
		case <-p.done:
			log.Close()
			if neg {
				if p.err == nil {
					ts.Fatalf("startserver: server exited with status 0, want a failure")
				}
				ts.Logf("server exited: %v", p.err)
				return
			}
			ts.Fatalf("startserver: server exited (%v) before accepting connections:\n%s", p.err, out.String())
		default:
		}
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			c.Close()
		}
		// The server binds before it opens its log, so an accepting
		// port alone does not mean it started: the "serving" line does.
		if err == nil && countServing(logPath) > servingBefore {
			if neg {
				p.stop(syscall.SIGKILL)
				ts.Fatalf("startserver: server serves on %s, want it to fail", addr)
			}
			st.server = p
			return
		}
		if time.Now().After(deadline) {
			p.stop(syscall.SIGKILL)
			ts.Fatalf("startserver: server does not accept connections on %s after %v:\n%s", addr, serverWait, out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// countServing counts the "serving" lines in the server log.
func countServing(path string) int {
	b, _ := os.ReadFile(path)
	return strings.Count(string(b), "msg=serving")
}

// multiWriter writes to the log file and a buffer; unlike io.MultiWriter it
// needs no locking because exec copies each stream in one goroutine.
type multiWriter struct {
	f *os.File
	b *strings.Builder
}

func (w multiWriter) Write(p []byte) (int, error) {
	w.b.Write(p)
	return w.f.Write(p)
}

// stop signals the server and waits for it (killing it after serverWait).
func (p *serverProc) stop(sig syscall.Signal) error {
	_ = p.cmd.Process.Signal(sig)
	select {
	case <-p.done:
	case <-time.After(serverWait):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
	p.log.Close()
	return p.err
}

func cmdStopServer(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 0 {
		ts.Fatalf("usage: stopserver")
	}
	st := state(ts)
	if st.server == nil {
		ts.Fatalf("stopserver: no server running")
	}
	err := st.server.stop(syscall.SIGTERM)
	st.server = nil
	if err != nil {
		ts.Fatalf("stopserver: server exited with %v (see $WORK/server.log)", err)
	}
}

func cmdKillServer(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 0 {
		ts.Fatalf("usage: killserver")
	}
	st := state(ts)
	if st.server == nil {
		ts.Fatalf("killserver: no server running")
	}
	st.server.stop(syscall.SIGKILL)
	st.server = nil
}

// reloadedLine is what the server logs after each reload.
const reloadedLine = "msg=reloaded "

func cmdHupServer(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 0 {
		ts.Fatalf("usage: hupserver")
	}
	st := state(ts)
	if st.server == nil {
		ts.Fatalf("hupserver: no server running")
	}
	logPath := ts.MkAbs("server.log")
	count := func() int {
		b, err := os.ReadFile(logPath)
		ts.Check(err)
		return strings.Count(string(b), reloadedLine)
	}
	before := count()
	ts.Check(st.server.cmd.Process.Signal(syscall.SIGHUP))
	for deadline := time.Now().Add(serverWait); count() == before; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			ts.Fatalf("hupserver: the server did not log a reload within %v", serverWait)
		}
	}
}

func cmdExecStatus(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 2 {
		ts.Fatalf("usage: execstatus N PROG [ARGS...]")
	}
	want, err := strconv.Atoi(args[0])
	ts.Check(err)
	got := 0
	if err := ts.Exec(args[1], args[2:]...); err != nil {
		var exit *exec.ExitError
		if !errors.As(err, &exit) {
			ts.Fatalf("%v", err)
		}
		got = exit.ExitCode()
	}
	if got != want {
		ts.Fatalf("exit status %d, want %d", got, want)
	}
	if w := doubledPrefix(ts.ReadFile("stderr")); w != "" {
		ts.Fatalf("stderr repeats the prefix %q", w+":")
	}
}

// doubledPrefix returns a "word:" prefix that a line of s says twice, as
// wrapped errors do when each layer adds its package's name.
func doubledPrefix(s string) string {
	word := regexp.MustCompile(`^[a-z][a-z-]*$`)
	for _, line := range strings.Split(s, "\n") {
		seen := map[string]bool{}
		parts := strings.Split(line, ": ")
		for _, p := range parts[:len(parts)-1] {
			if i := strings.LastIndexByte(p, ' '); i >= 0 {
				p = p[i+1:] // "receipt does not verify: tlog" ends in tlog
			}
			if !word.MatchString(p) {
				continue
			}
			if seen[p] {
				return p
			}
			seen[p] = true
		}
	}
	return ""
}

func cmdCapture(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: capture NAME")
	}
	line, _, _ := strings.Cut(ts.ReadFile("stdout"), "\n")
	line = strings.TrimSpace(line)
	if line == "" {
		ts.Fatalf("capture %s: the last stdout has no first line", args[0])
	}
	ts.Setenv(args[0], line)
	ts.Logf("%s=%s", args[0], line)
}

func cmdFlipEntry(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: flipentry DB INDEX")
	}
	index, err := strconv.ParseUint(args[1], 10, 64)
	ts.Check(err)
	db, err := bolt.Open(ts.MkAbs(args[0]), 0o600, &bolt.Options{Timeout: time.Second})
	ts.Check(err)
	defer db.Close()
	ts.Check(db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte("entries"))
		if b == nil {
			return errors.New("no entries bucket")
		}
		key := binary.BigEndian.AppendUint64(nil, index)
		v := b.Get(key)
		if v == nil {
			return fmt.Errorf("no entry %d", index)
		}
		flipped := append([]byte(nil), v...)
		flipped[len(flipped)/2] ^= 0x01
		return b.Put(key, flipped)
	}))
}

func cmdRetimeEntry(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 3 {
		ts.Fatalf("usage: retimeentry DB INDEX DURATION")
	}
	index, err := strconv.ParseUint(args[1], 10, 64)
	ts.Check(err)
	d, err := time.ParseDuration(args[2])
	ts.Check(err)
	db, err := bolt.Open(ts.MkAbs(args[0]), 0o600, &bolt.Options{Timeout: time.Second})
	ts.Check(err)
	defer db.Close()
	ts.Check(db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte("entries"))
		if b == nil {
			return errors.New("no entries bucket")
		}
		key := binary.BigEndian.AppendUint64(nil, index)
		e, err := entry.DecodeLeaf(b.Get(key))
		if err != nil {
			return fmt.Errorf("entry %d: %w", index, err)
		}
		leaf, err := entry.NewLeaf(e.Index, e.ReceivedAt.AsTime().Add(d), e.Envelope, e.PeerCertificateSha256)
		if err != nil {
			return err
		}
		return b.Put(key, leaf)
	}))
}

func cmdPerm(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) < 2 {
		ts.Fatalf("usage: perm MODE FILE...")
	}
	want, err := strconv.ParseUint(args[0], 8, 32)
	ts.Check(err)
	for _, f := range args[1:] {
		fi, err := os.Stat(ts.MkAbs(f))
		ts.Check(err)
		got := fi.Mode().Perm()
		if (got == os.FileMode(want)) == neg {
			ts.Fatalf("%s: mode %#o, want %s%#o", f, got, map[bool]string{true: "not ", false: ""}[neg], want)
		}
	}
}

func cmdExpiredCert(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: expiredcert NAME PARTY")
	}
	end := time.Now().Add(-24 * time.Hour)
	ts.Check(devpki.Issue(ts.Getenv("MVM_CERTS"), args[0], args[1],
		devpki.IssueOptions{NotBefore: end.Add(-time.Hour), NotAfter: end}))
}
