package cli

import (
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/mvm-exchange/mvm/internal/tlog"
)

// Each Run parses into a table of its own: whatever one command line set,
// every flag of every command starts at its default in the next. The
// tests run many command lines in one process, as a Go program calling
// Run would.
func TestRunsShareNoFlags(t *testing.T) {
	first := commands()
	for _, c := range first {
		fs := flag.NewFlagSet(c.name, flag.ContinueOnError)
		c.flags.register(fs)
		fs.VisitAll(func(f *flag.Flag) {
			for _, v := range []string{"1", "true", "2s", strings.Repeat("ab", 32), "x", "1-2"} {
				if f.Value.Set(v) == nil && f.Value.String() != f.DefValue {
					return
				}
			}
			if f.Value.String() == f.DefValue && f.Name != "crl" { // --crl is checked by TestRunsShareNoRepeatedFlags
				t.Errorf("%s --%s: no value found that moves it off its default %q", c.name, f.Name, f.DefValue)
			}
		})
	}
	for i, c := range commands() {
		// Two new zero-size structs may share an address, and hold nothing.
		if c.flags == first[i].flags && reflect.TypeOf(c.flags).Elem().Size() != 0 {
			t.Errorf("%s: the same flags struct in two tables", c.name)
		}
		fs := flag.NewFlagSet(c.name, flag.ContinueOnError)
		c.flags.register(fs)
		fs.VisitAll(func(f *flag.Flag) {
			if got := f.Value.String(); got != f.DefValue {
				t.Errorf("%s --%s = %q in a new run after another set it, want the default %q", c.name, f.Name, got, f.DefValue)
			}
		})
	}
}

// A repeatable flag given in one run is not there in the next: the second
// run sees only what its own command line says.
func TestRunsShareNoRepeatedFlags(t *testing.T) {
	certs := t.TempDir()
	_, vkey, err := tlog.GenerateLogKey("mvm.example/log")
	if err != nil {
		t.Fatal(err)
	}
	for name, data := range map[string]string{"log.vkey": vkey + "\n", "agreement.envelope": "not read this far"} {
		if err := os.WriteFile(filepath.Join(certs, name), []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	bundle := filepath.Join(certs, "no.bundle")
	for _, tc := range []struct {
		name        string
		first, next []string
		firstErr    string // the first run's error, caused by the repeated flag
		nextErr     string // the next run's, without it
	}{
		{"evidence", []string{"submit", "--lat", "1", "--lon", "2", "--evidence", "zz"}, []string{"submit", "--lat", "1", "--lon", "2"},
			`submit: --evidence "zz": want a 64-digit hex SHA-256 digest`, "submit: load identity: "}, // past the flags, to the dial
		{"crl", []string{"audit", "--certs", certs, "--bundle", bundle, "--crl", "missing.pem"}, []string{"audit", "--certs", certs, "--bundle", bundle},
			"audit: crl: ", "audit: FAILED: "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, _, errOut := run(t, append([]string{"--as", "anyone"}, tc.first...)...)
			if code == ExitOK || !strings.HasPrefix(errOut, tc.firstErr) {
				t.Fatalf("%v: exit %d, stderr %q; want it to fail with %q", tc.first, code, errOut, tc.firstErr)
			}
			code, _, errOut = run(t, append([]string{"--as", "anyone"}, tc.next...)...)
			if code == ExitOK || !strings.HasPrefix(errOut, tc.nextErr) {
				t.Errorf("%v after %v: exit %d, stderr %q; want %q (the flag of the run before is gone)", tc.next, tc.first, code, errOut, tc.nextErr)
			}
		})
	}
}

// The table's names are unique, and each command has a summary for the
// help: a second command of one name could never be run.
func TestCommandTable(t *testing.T) {
	seen := map[string]bool{}
	for _, c := range commands() {
		if c.name == "" || c.summary == "" || seen[c.name] {
			t.Errorf("command %q: empty name or summary, or a name used twice", c.name)
		}
		seen[c.name] = true
	}
}

// The help and the did-you-mean hint come from the table: every row is
// listed by client -h, has its own help, and is the hint for its name
// with one letter dropped.
func TestHelpFromTable(t *testing.T) {
	_, list, _ := run(t, "-h")
	for _, c := range commands() {
		if !strings.Contains(list, "\n  "+c.name+" ") {
			t.Errorf("client -h does not list %s", c.name)
		}
		code, out, _ := run(t, c.name, "-h")
		if code != ExitOK || !strings.HasPrefix(out, "usage: client [global flags] "+c.name+" "+c.args+"\n  "+c.summary+"\n") {
			t.Errorf("client %s -h: exit %d, got\n%s", c.name, code, out)
		}
		typo := c.name[:len(c.name)-1]
		if _, _, errOut := run(t, "--as", "x", typo); !strings.Contains(errOut, "did you mean "+c.name+"?") {
			t.Errorf("client %s: %q, want a did-you-mean hint", typo, errOut)
		}
	}
}
