package demotest

import (
	"bufio"
	"bytes"
	"context"
	"github.com/mvm-exchange/mvm/internal/testenv"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/mvm-exchange/mvm/internal/devpki"
)

// unit reads scripts/packaging/mvm-server.service as key → values, in order.
func unit(t *testing.T) map[string][]string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot(t), "scripts", "packaging", "mvm-server.service"))
	if err != nil {
		t.Fatal(err)
	}
	keys := map[string][]string{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if k, v, ok := strings.Cut(line, "="); ok && !strings.HasPrefix(line, "#") {
			keys[k] = append(keys[k], v)
		}
	}
	return keys
}

// TestUnitHardening: the unit keeps the hardening it promises (README,
// "Installing the .deb").
func TestUnitHardening(t *testing.T) {
	keys := unit(t)
	for _, want := range []struct{ key, value string }{
		{"User", "mvm"},
		{"StateDirectory", "mvm"},
		{"ProtectSystem", "strict"},
		{"ProtectHome", "yes"},
		{"PrivateTmp", "yes"},
		{"NoNewPrivileges", "yes"},
		{"CapabilityBoundingSet", ""},
		{"RestrictAddressFamilies", "AF_INET AF_INET6 AF_UNIX"},
		{"SystemCallFilter", "@system-service"},
		{"ExecReload", "/bin/kill -HUP $MAINPID"},
		{"LimitNOFILE", "65536"},
		{"Restart", "on-failure"},
		{"EnvironmentFile", "-/etc/default/mvm-server"},
	} {
		if vs := keys[want.key]; !strings.Contains("\x00"+strings.Join(vs, "\x00")+"\x00", "\x00"+want.value+"\x00") {
			t.Errorf("%s=%q, want %s=%s", want.key, vs, want.key, want.value)
		}
	}
}

// TestUnitStartsServer runs the server with the unit's ExecStart and the
// flags file's MVM_SERVER_FLAGS (paths moved into a scratch directory and
// the address to a free loopback port), sends it ExecReload's SIGHUP and
// the stop's SIGTERM: the command line a packaged server gets works. With
// systemd-analyze on the machine, the unit also verifies.
func TestUnitStartsServer(t *testing.T) {
	if testing.Short() {
		t.Skip("skipped with -short: builds and runs the server")
	}
	root := repoRoot(t)
	keys := unit(t)
	defaults, err := os.ReadFile(filepath.Join(root, "scripts", "packaging", "mvm-server.default"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^MVM_SERVER_FLAGS="([^"]*)"$`).FindSubmatch(defaults)
	if m == nil || len(keys["ExecStart"]) != 1 {
		t.Fatalf("no MVM_SERVER_FLAGS=\"...\" in mvm-server.default, or not one ExecStart= (%q)", keys["ExecStart"])
	}

	dir := t.TempDir()
	bin := filepath.Join(dir, "mvm-server")
	build := exec.Command("go", "build", "-o", bin, "./server")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build ./server: %v\n%s", err, out)
	}
	certs, state := filepath.Join(dir, "etc-mvm"), filepath.Join(dir, "var-lib-mvm")
	if err := devpki.Generate(devpki.Options{Dir: certs}); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(state, 0o700); err != nil {
		t.Fatal(err)
	}
	addr, err := testenv.FreeAddr()
	if err != nil {
		t.Fatal(err)
	}
	line := strings.NewReplacer("/usr/bin/mvm-server", bin, "/etc/mvm", certs, "/var/lib/mvm", state,
		"$MVM_SERVER_FLAGS", string(m[1])).Replace(keys["ExecStart"][0])
	args := append(strings.Fields(line), "--listen", addr) // the last --listen wins

	if sa, err := exec.LookPath("systemd-analyze"); err == nil {
		u, err := os.ReadFile(filepath.Join(root, "scripts", "packaging", "mvm-server.service"))
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, "mvm-server.service")
		if err := os.WriteFile(p, bytes.ReplaceAll(u, []byte("/usr/bin/mvm-server"), []byte(bin)), 0o644); err != nil {
			t.Fatal(err)
		}
		// verify warns about unknown keys and bad values with exit status 0.
		if out, err := exec.Command(sa, "verify", p).CombinedOutput(); err != nil || len(out) > 0 {
			t.Errorf("systemd-analyze verify: %v\n%s", err, out)
		}
	}

	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	var log syncBuffer
	cmd := exec.CommandContext(ctx, args[0], args[1:]...)
	cmd.Stderr = &log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	// The flags file may choose text or JSON logs.
	waitFor := func(msg string, with ...string) {
		t.Helper()
		line := regexp.MustCompile(`(msg=|"msg":")` + msg + `\b.*`)
		for {
			if l := line.FindString(log.String()); l != "" && containsAll(l, with) {
				return
			}
			select {
			case err := <-exited:
				t.Fatalf("the server exited (%v) before it logged %s %q:\n%s", err, msg, with, log.String())
			case <-ctx.Done():
				t.Fatalf("the server did not log %s %q within a minute:\n%s", msg, with, log.String())
			case <-time.After(50 * time.Millisecond):
			}
		}
	}
	waitFor("serving", addr, filepath.Join(state, "mvm.db"))
	if err := cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitFor("reloaded")
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := <-exited; err != nil {
		t.Fatalf("the server's stop: %v\n%s", err, log.String())
	}
}

func containsAll(s string, subs []string) bool {
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			return false
		}
	}
	return true
}

// syncBuffer is a bytes.Buffer a process writes while the test reads it.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
