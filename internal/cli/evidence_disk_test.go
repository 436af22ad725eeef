package cli

import (
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mvm-exchange/mvm/internal/pagecache"
	"github.com/mvm-exchange/mvm/internal/testenv"
)

// A download whose file the local disk fails to store (the fsync at its
// end reports an I/O error, as the kernel does once) fails with a local
// error and keeps nothing: neither the file nor a partial file that a
// next run would resume from and a later fsync would call durable. The
// clear and the sealed downloads alike.
func TestEvidenceGetDiskFails(t *testing.T) {
	for _, mode := range []string{"clear", "sealed"} {
		t.Run(mode, func(t *testing.T) {
			var addr, certs, id, src string
			if mode == "sealed" {
				f := newSealedFixture(t)
				addr, certs, id = f.e.Addr, f.e.Certs, f.id
				src, _ = film(t, t.TempDir())
			} else {
				e := testenv.New(t)
				addr, certs, id = e.Addr, e.Certs, reportedPackage(t, e)
				plain := make([]byte, 300_000)
				rand.NewChaCha8([32]byte{4}).Read(plain)
				src = filepath.Join(t.TempDir(), "raid.mp4")
				if err := os.WriteFile(src, plain, 0o600); err != nil {
					t.Fatal(err)
				}
			}
			mustCLI(t, addr, certs, testenv.Responder, "evidence", id, "--file", src)

			eio := errors.New("input/output error")
			restore := pagecache.SetSyncs(nil, func(*os.File) error { return eio })
			dir := t.TempDir()
			_, stderr, code := runCLI(t, addr, certs, testenv.Mediator, "evidence", "get", id, "--out", dir)
			restore()
			if code != ExitFail || !strings.Contains(stderr, "the disk failed to store the file") || !strings.Contains(stderr, "input/output error") {
				t.Fatalf("get onto a failing disk: exit %d, %s", code, stderr)
			}
			if names := dirNames(t, dir); len(names) != 0 {
				t.Fatalf("left in --out after the disk failed: %q, want nothing", names)
			}
			// The disk well again, the same command downloads it whole.
			stdout, stderr, code := runCLI(t, addr, certs, testenv.Mediator, "evidence", "get", id, "--out", dir)
			if code != ExitOK || !strings.Contains(stdout, "wrote ") || strings.Contains(stdout, "resumed") {
				t.Fatalf("get once the disk is well: exit %d\nstdout: %s\nstderr: %s", code, stdout, stderr)
			}
		})
	}
}
