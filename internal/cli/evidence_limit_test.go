package cli

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mvm-exchange/mvm/internal/message"
	"github.com/mvm-exchange/mvm/internal/testenv"
)

// The files-per-submission limit (message.MaxEvidence, 32): 33 --file
// arguments are refused as a usage error naming the limit, before any
// file is sent, so the evidence store stays empty and nothing is logged;
// 32 are uploaded and logged.
func TestEvidenceFilesPerSubmission(t *testing.T) {
	e := testenv.New(t)
	id := reportedPackage(t, e)
	dir := t.TempDir()
	args := func(n int) []string {
		a := []string{"evidence", id}
		for i := range n {
			p := filepath.Join(dir, fmt.Sprintf("photo-%02d.jpg", i))
			if err := os.WriteFile(p, []byte(fmt.Sprintf("photo %d", i)), 0o600); err != nil {
				t.Fatal(err)
			}
			a = append(a, "--file", p)
		}
		return a
	}
	stored := func(sub string) int {
		t.Helper()
		des, err := os.ReadDir(filepath.Join(filepath.Dir(e.DB), "evidence", sub))
		if err != nil {
			t.Fatal(err)
		}
		return len(des)
	}

	over := message.MaxEvidence + 1
	out, errs, code := runCLI(t, e.Addr, e.Certs, testenv.Responder, args(over)...)
	if o, p := stored("objects"), stored("partial"); o != 0 || p != 0 {
		t.Fatalf("after %d --file the evidence store holds %d objects and %d partial uploads; want none (exit %d, %s)", over, o, p, code, errs)
	}
	want := fmt.Sprintf("%d files (--file, --evidence): over the limit of %d evidence files per submission", over, message.MaxEvidence)
	if code != ExitUsage || !strings.Contains(errs, want) {
		t.Fatalf("%d --file: exit %d\nstdout:\n%s\nstderr:\n%s\nwant exit %d and %q", over, code, out, errs, ExitUsage, want)
	}
	if list := mustCLI(t, e.Addr, e.Certs, testenv.Mediator, "evidence", "list", id); strings.Contains(list, "photo-") {
		t.Fatalf("evidence list after the refusal:\n%s", list)
	}

	mustCLI(t, e.Addr, e.Certs, testenv.Responder, args(message.MaxEvidence)...)
	if o := stored("objects"); o != message.MaxEvidence {
		t.Fatalf("%d --file: %d objects stored", message.MaxEvidence, o)
	}
	if list := mustCLI(t, e.Addr, e.Certs, testenv.Mediator, "evidence", "list", id); strings.Count(list, "photo-") != message.MaxEvidence {
		t.Fatalf("evidence list after %d files:\n%s", message.MaxEvidence, list)
	}
}
