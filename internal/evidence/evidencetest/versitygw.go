// Package evidencetest starts a real S3 engine for tests: versitygw
// (Apache-2.0) serving a posix directory on a loopback port.
//
// The binary is found as $MVM_VERSITYGW, then .bin/versitygw at the root of
// the module (scripts/tools.sh installs it there), then versitygw on PATH.
// Without it a test is skipped with the command that installs it, unless
// MVM_REQUIRE_VERSITYGW is set (.ci/run sets it): then it fails, so CI
// never passes without having run the S3 tests.
package evidencetest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// Install is the command that installs the pinned versitygw.
const Install = `source scripts/tools.sh && install_tool versitygw "github.com/versity/versitygw/cmd/versitygw@$VERSITYGW_VERSION"`

// Binary returns the path of versitygw, or "" if none is installed.
func Binary() string {
	if p := os.Getenv("MVM_VERSITYGW"); p != "" {
		return p
	}
	if dir, err := os.Getwd(); err == nil {
		for ; ; dir = filepath.Dir(dir) {
			if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
				if p := filepath.Join(dir, ".bin", "versitygw"); isExec(p) {
					return p
				}
				break
			}
			if dir == filepath.Dir(dir) {
				break
			}
		}
	}
	if p, err := exec.LookPath("versitygw"); err == nil {
		return p
	}
	return ""
}

func isExec(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.Mode()&0o111 != 0
}

// VersityGW starts versitygw for t on a loopback port, serving a fresh
// directory with one bucket, and returns the bucket's URL
// (http://127.0.0.1:PORT/BUCKET). It sets AWS_ACCESS_KEY_ID,
// AWS_SECRET_ACCESS_KEY and AWS_REGION for t (so t must not be parallel).
// The server is stopped when t ends.
func VersityGW(t testing.TB) string {
	t.Helper()
	bin := Binary()
	if bin == "" {
		if os.Getenv("MVM_REQUIRE_VERSITYGW") != "" {
			t.Fatalf("versitygw is required (MVM_REQUIRE_VERSITYGW is set) but not installed: %s", Install)
		}
		t.Skipf("versitygw not installed, S3 tests skipped; install it with: %s", Install)
	}
	access, secret := "mvm-test", randHex(16)
	t.Setenv("AWS_ACCESS_KEY_ID", access)
	t.Setenv("AWS_SECRET_ACCESS_KEY", secret)
	t.Setenv("AWS_REGION", "us-east-1")
	dir := t.TempDir()
	var addr string
	var cmd *exec.Cmd
	for try := 0; ; try++ {
		addr = freePort(t)
		cmd = exec.Command(bin, "--access", access, "--secret", secret, "--region", "us-east-1", "--port", addr, "posix", dir)
		logf, err := os.Create(filepath.Join(t.TempDir(), "versitygw.log"))
		if err != nil {
			t.Fatal(err)
		}
		cmd.Stdout, cmd.Stderr = logf, logf
		if err := cmd.Start(); err != nil {
			t.Fatalf("starting %s: %v", bin, err)
		}
		exited := make(chan error, 1)
		go func() { exited <- cmd.Wait() }()
		ok, gone := waitListening(addr, exited, 15*time.Second)
		if ok {
			t.Cleanup(func() {
				cmd.Process.Kill()
				<-exited
				logf.Close()
			})
			break
		}
		if !gone {
			cmd.Process.Kill()
			<-exited
		}
		out, _ := os.ReadFile(logf.Name())
		logf.Close()
		if try == 2 {
			t.Fatalf("versitygw did not start on %s:\n%s", addr, out)
		}
	}
	bucket := "evidence"
	c, err := minio.New(addr, &minio.Options{Creds: credentials.NewStaticV4(access, secret, ""), Region: "us-east-1", BucketLookup: minio.BucketLookupPath})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.MakeBucket(ctx, bucket, minio.MakeBucketOptions{Region: "us-east-1"}); err != nil {
		t.Fatalf("creating the bucket on versitygw: %v", err)
	}
	return fmt.Sprintf("http://%s/%s", addr, bucket)
}

func randHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

func freePort(t testing.TB) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// waitListening reports whether addr accepts connections before the
// process exits (gone) or the time is up.
func waitListening(addr string, exited <-chan error, within time.Duration) (ok, gone bool) {
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			return false, true
		default:
		}
		if c, err := net.DialTimeout("tcp", addr, 100*time.Millisecond); err == nil {
			c.Close()
			return true, false
		}
		time.Sleep(20 * time.Millisecond)
	}
	return false, false
}
