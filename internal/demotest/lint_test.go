package demotest

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// lintPipes runs scripts/lint-pipes.sh on args and returns its exit status
// and output.
func lintPipes(t *testing.T, args ...string) (int, string) {
	t.Helper()
	if _, err := exec.LookPath("bash"); err != nil {
		t.Skip("scripts/lint-pipes.sh needs bash")
	}
	cmd := exec.Command("bash", append([]string{filepath.Join(repoRoot(t), "scripts", "lint-pipes.sh")}, args...)...)
	out, err := cmd.CombinedOutput()
	if ee, ok := errors.AsType[*exec.ExitError](err); ok {
		return ee.ExitCode(), string(out)
	}
	if err != nil {
		t.Fatal(err)
	}
	return 0, string(out)
}

func TestLintPipes(t *testing.T) {
	for _, test := range []struct {
		line string
		bad  bool
	}{
		{`id=$(client submit --lat 1 --lon 2 | head -1)`, true},
		{`client list | head`, true},
		{`client list|head -n 3`, true},
		{`  | head -1`, true}, // continuation of the line before
		{`client list | grep -q pending`, true},
		{`client list | grep -qs pending`, true},
		{`client list | grep -m1 pending`, true},
		{`client list | grep --quiet pending`, true},
		{`client list | grep -l x`, true},
		{`client list | sed q`, true},
		{`client list | sed 1q`, true},
		{`client list | sed -n '1p;q'`, true},
		{`client list | sed '/pending/q'`, true},
		{`client list | awk '{print; exit}'`, true},
		{`client list | read -r first`, true},
		{`client list | IFS= read -r first`, true},

		{`# client list | head -1 (a comment)`, false},
		{`out=$(client list); first=${out%%$'\n'*}`, false},
		{`client list || head -1 notes.txt`, false},
		{`client list | grep pending`, false},
		{`client list | grep -v pending`, false},
		{`client list | sed -n 1p`, false},
		{`client list | sed 's/q/x/'`, false},
		{`client list | awk 'NR==1'`, false},
		{`client list | tail -1`, false},
		{`client list | readlink -f`, false},
		{`client list | header`, false},
		{`head -1 notes.txt | cat`, false},
		{`grep -q pending notes.txt`, false},
		{`while IFS= read -r f; do :; done < <(find . -type f)`, false},
	} {
		t.Run(test.line, func(t *testing.T) {
			f := filepath.Join(t.TempDir(), "x.sh")
			if err := os.WriteFile(f, []byte("#!/usr/bin/env bash\nset -euo pipefail\n"+test.line+"\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			code, out := lintPipes(t, f)
			switch {
			case test.bad && (code != 1 || !strings.Contains(out, f+":3:"+test.line+"\n") || !strings.Contains(out, "SIGPIPE")):
				t.Errorf("exit %d, output:\n%s\nwant exit 1 naming %s:3 and saying why", code, out, f)
			case !test.bad && (code != 0 || out != ""):
				t.Errorf("exit %d, output:\n%s\nwant exit 0 and no output", code, out)
			}
		})
	}
}

// TestLintPipesRepo runs the lint as CI does, on the repository's own
// scripts, which must pass.
func TestLintPipesRepo(t *testing.T) {
	if code, out := lintPipes(t); code != 0 {
		t.Fatalf("scripts/lint-pipes.sh: exit %d:\n%s", code, out)
	}
}

// TestLintPipesFinds checks which files the lint reads by default, in a
// copy of the layout: shell scripts in scripts/ (also below it) and .ci/,
// named *.sh or starting with a shell's #! line; not other files.
func TestLintPipesFinds(t *testing.T) {
	tree := t.TempDir()
	script, err := os.ReadFile(filepath.Join(repoRoot(t), "scripts", "lint-pipes.sh"))
	if err != nil {
		t.Fatal(err)
	}
	const bad = "client list | head -1\n"
	files := map[string]string{
		"scripts/lint-pipes.sh":         string(script),
		"scripts/a.sh":                  bad,
		"scripts/packaging/postinst":    "#!/bin/sh\n" + bad,
		".ci/run":                       "#!/usr/bin/env bash\n" + bad,
		"scripts/packaging/mvm.service": "[Service]\nExecStart=/bin/sh -c '" + bad + "'\n",
		"scripts/packaging/server.env":  bad,
		"docs/notes.sh":                 bad,
	}
	for name, text := range files {
		p := filepath.Join(tree, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(text), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	out, err := exec.Command("bash", filepath.Join(tree, "scripts", "lint-pipes.sh")).CombinedOutput()
	if err == nil {
		t.Fatalf("lint passed a tree with bad scripts:\n%s", out)
	}
	var flagged []string
	for _, line := range strings.Split(string(out), "\n") {
		if name, _, ok := strings.Cut(line, ":"); ok && !strings.HasPrefix(line, "lint-pipes:") {
			flagged = append(flagged, name)
		}
	}
	want := []string{".ci/run", "scripts/a.sh", "scripts/packaging/postinst"}
	if strings.Join(flagged, " ") != strings.Join(want, " ") {
		t.Errorf("flagged %q, want %q:\n%s", flagged, want, out)
	}
}
