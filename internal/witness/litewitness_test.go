package witness_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	fnote "github.com/transparency-dev/formats/note"
	"golang.org/x/mod/sumdb/note"

	"github.com/mvm-exchange/mvm/internal/cli"
	"github.com/mvm-exchange/mvm/internal/devpki"
	"github.com/mvm-exchange/mvm/internal/testenv"
	"github.com/mvm-exchange/mvm/internal/witness"
)

// requireEnv, set by .ci/run, turns a litewitness that cannot be had into
// a failure instead of a skip.
const requireEnv = "MVM_REQUIRE_LITEWITNESS"

// TestLitewitness: a real third-party C2SP witness, torchwood's litewitness
// (the version scripts/tools.sh pins), with its key in an ssh-agent of
// its own, cosigns the checkpoints our primary pushes to it, resyncs after
// the primary restarts (its 409), and `client checkpoint` and `client
// audit` count it because the agreement lists it.
func TestLitewitness(t *testing.T) {
	bin := litewitnessBinaries(t)
	for _, tool := range []string{"ssh-keygen", "ssh-agent", "ssh-add"} {
		if _, err := exec.LookPath(tool); err != nil {
			needed(t, fmt.Sprintf("%s not found (Debian: apt-get install openssh-client)", tool))
		}
	}
	// Unix socket paths are short: a directory of its own under /tmp.
	work, err := os.MkdirTemp("", "lw")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(work) })
	run := func(env []string, name string, args ...string) string {
		t.Helper()
		cmd := exec.Command(name, args...)
		cmd.Env = append(os.Environ(), env...)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
		}
		return string(out)
	}

	// The witness's key, in an ssh-agent of its own.
	key := filepath.Join(work, "witness")
	run(nil, "ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "litewitness test", "-f", key)
	pub, blob := sshEd25519(t, key+".pub")
	sock := filepath.Join(work, "agent.sock")
	agent := exec.Command("ssh-agent", "-D", "-a", sock)
	if err := agent.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { agent.Process.Kill(); agent.Wait() })
	waitFor(t, "the ssh-agent socket", func() bool { _, err := os.Stat(sock); return err == nil })
	run([]string{"SSH_AUTH_SOCK=" + sock}, "ssh-add", "-q", key)
	sum := sha256.Sum256(blob)
	fingerprint := "SHA256:" + base64.RawStdEncoding.EncodeToString(sum[:])

	// The agreement lists it: its name and its cosignature/v1 key.
	const name = "witness.test/litewitness"
	plain, err := note.NewEd25519VerifierKey(name, pub)
	if err != nil {
		t.Fatal(err)
	}
	vkey, err := fnote.VKeyToCosignatureV1(plain)
	if err != nil {
		t.Fatal(err)
	}
	dir := pki(t)
	if err := devpki.AddWitness(dir, name, vkey); err != nil {
		t.Fatal(err)
	}

	// The witness knows our log: its origin and key.
	_, logKey := logKeys(t, dir)
	db := filepath.Join(work, "litewitness.db")
	run(nil, filepath.Join(bin, "witnessctl"), "add-log", "-db", db, "-origin", logKey.Name())
	run(nil, filepath.Join(bin, "witnessctl"), "add-key", "-db", db, "-origin", logKey.Name(), "-key", readFile(t, dir, "log.vkey"))
	addr := freePort(t)
	var stderr syncBuffer
	lw := exec.Command(filepath.Join(bin, "litewitness"), "-name", name, "-db", db, "-ssh-agent", sock, "-key", fingerprint, "-listen", addr)
	lw.Stdout, lw.Stderr = &stderr, &stderr
	if err := lw.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		lw.Process.Kill()
		lw.Wait()
		if t.Failed() {
			t.Logf("litewitness:\n%s", stderr.String())
		}
	})
	waitFor(t, "litewitness to listen on "+addr, func() bool {
		resp, err := http.Get("http://" + addr + "/")
		if err == nil {
			resp.Body.Close()
		}
		return err == nil
	})
	if got := regexp.MustCompile(`vkey=(\S+)`).FindStringSubmatch(stderr.String()); got == nil || got[1] != vkey {
		t.Fatalf("litewitness's verifier key: got %v, want the agreement's %s", got, vkey)
	}

	e := testenv.Start(t, dir, filepath.Join(t.TempDir(), "mvm.db"), fast(witness.Target{Name: name, URL: "http://" + addr}))
	size := appendN(t, e, 3)
	if _, n := cosignedBy(t, e, size, name); n != 1 {
		t.Errorf("the server counts %d witnesses, want 1 (litewitness)", n)
	}
	// The primary restarts: old size 0 gets litewitness's 409, and the
	// pushes go on from its size.
	e.Restart()
	size = appendN(t, e, 2)
	cosignedBy(t, e, size, name)

	// The client counts it on its own, under the agreement it verified.
	for _, args := range [][]string{{"checkpoint"}, {"audit"}} {
		var out, errOut bytes.Buffer
		argv := append([]string{"--server", e.Addr, "--certs", dir, "--as", testenv.Mediator}, args...)
		if code := cli.Run(argv, &out, &errOut); code != 0 {
			t.Fatalf("client %s: exit %d\n%s%s", args[0], code, out.String(), errOut.String())
		}
		want := "1/2 witnesses (0 mediators, 1 of 1 external), not witnessed; cosigners: " + name
		if !strings.Contains(out.String()+errOut.String(), want) {
			t.Errorf("client %s does not say %q:\n%s%s", args[0], want, out.String(), errOut.String())
		}
	}
}

// litewitnessBinaries returns the directory holding litewitness and
// witnessctl of the pinned version: .bin/ as .ci/run installs them, or
// built now. If neither works, the test fails when requireEnv is set and
// skips otherwise, saying why.
func litewitnessBinaries(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	tools, err := os.ReadFile(filepath.Join(root, "scripts", "tools.sh"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^TORCHWOOD_VERSION=(\S+)$`).FindSubmatch(tools)
	if m == nil {
		t.Fatal("scripts/tools.sh pins no TORCHWOOD_VERSION")
	}
	version := string(m[1])
	bin := filepath.Join(root, ".bin")
	stamp, _ := os.ReadFile(filepath.Join(bin, ".litewitness.version"))
	if strings.HasSuffix(strings.TrimSpace(string(stamp)), "@"+version) {
		if _, err := os.Stat(filepath.Join(bin, "witnessctl")); err == nil {
			return bin
		}
	}
	bin = t.TempDir()
	cmd := exec.Command("go", "install",
		"filippo.io/torchwood/cmd/litewitness@"+version, "filippo.io/torchwood/cmd/witnessctl@"+version)
	cmd.Env = append(os.Environ(), "GOBIN="+bin)
	if out, err := cmd.CombinedOutput(); err != nil {
		needed(t, fmt.Sprintf("litewitness %s could not be built here (%v): %s", version, err, out))
	}
	return bin
}

// needed skips the test, or fails it where requireEnv says it must run.
func needed(t *testing.T, why string) {
	t.Helper()
	if os.Getenv(requireEnv) != "" {
		t.Fatalf("%s, and %s is set: the litewitness interop test must run", why, requireEnv)
	}
	t.Skipf("SKIPPED the litewitness interop test: %s", why)
}

// sshEd25519 reads an OpenSSH ed25519 public key file: the raw key and the
// wire-format blob its fingerprint hashes.
func sshEd25519(t *testing.T, path string) ([]byte, []byte) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	f := strings.Fields(string(b))
	if len(f) < 2 || f[0] != "ssh-ed25519" {
		t.Fatalf("%s: not an ssh-ed25519 key: %q", path, b)
	}
	blob, err := base64.StdEncoding.DecodeString(f[1])
	if err != nil {
		t.Fatal(err)
	}
	// string "ssh-ed25519", string key: each a 4-byte length and bytes.
	rest := blob
	var parts [][]byte
	for len(rest) >= 4 {
		n := binary.BigEndian.Uint32(rest)
		if uint64(len(rest)-4) < uint64(n) {
			break
		}
		parts, rest = append(parts, rest[4:4+n]), rest[4+n:]
	}
	if len(parts) != 2 || string(parts[0]) != "ssh-ed25519" || len(parts[1]) != 32 || len(rest) != 0 {
		t.Fatalf("%s: malformed ssh-ed25519 key blob", path)
	}
	return parts[1], blob
}

func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func waitFor(t *testing.T, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatal(errors.New("timed out waiting for " + what))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// syncBuffer is a bytes.Buffer safe for a process's output and the test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
