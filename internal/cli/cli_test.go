package cli

import (
	"bytes"
	"flag"
	"strings"
	"testing"
)

// run runs the command line in-process, with no server: what it tests is
// decided before anything is dialled.
func run(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	t.Setenv("MVM_SERVER", "127.0.0.1:1") // nothing listens: a dial would fail, not hang
	t.Setenv("MVM_CERTS", t.TempDir())
	t.Setenv("MVM_AS", "")
	var out, errOut bytes.Buffer
	code = Run(args, &out, &errOut)
	return code, out.String(), errOut.String()
}

// Each message a command builds is checked before it is signed, and the
// error names the flag the user typed, with message's own limits.
func TestFieldErrorsNameFlags(t *testing.T) {
	long := strings.Repeat("x", 4097)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"submit", "--lat", "91", "--lon", "0"}, "submit: --lat: 91 is outside [-90, 90]"},
		{[]string{"submit", "--lat", "0", "--lon", "181"}, "submit: --lon: 181 is outside [-180, 180]"},
		{[]string{"submit", "--lat", "0", "--lon", "0", "--precision", "2000000"}, "submit: --precision: 2e+06 is outside [0, 1000000]"},
		{[]string{"submit", "--lat", "0", "--lon", "0", "--group", strings.Repeat("g", 300)}, "submit: --group: 300 bytes, at most 256"},
		{[]string{"submit", "--lat", "0", "--lon", "0", "--summary", long}, "submit: --summary: 4097 bytes, at most 4096"},
		{[]string{"submit", "--lat", "0", "--lon", "0", "--responder", "Not A Party"}, `submit: --responder: "Not A Party" is not a party id`},
		{[]string{"submit", "--lat", "0", "--lon", "0", "--id", "a b"}, `submit: --id: "a b" must be 1-64 characters of [A-Za-z0-9._-]`},
		{[]string{"ack", "x", "--note", long}, "ack: --note: 4097 bytes, at most 4096"},
		{[]string{"ack", "a/b"}, `ack: the package ID: "a/b" must be 1-64 characters of [A-Za-z0-9._-]`},
		{[]string{"report", "x", "--outcome", "declined"}, "report: --note is required when --outcome is declined"},
		{[]string{"report", "x", "--outcome", "raid", "--weapons", "100001"}, "report: --weapons: 100001 exceeds 100000"},
		{[]string{"report", "x", "--outcome", "raid", "--injured", "100001"}, "report: --injured: 100001 exceeds 100000"},
		{[]string{"rfi", "x", "--question", long}, "rfi: --question: 4097 bytes, at most 4096"},
		{[]string{"respond", "x", "--answer", "a", "--request", "a b"}, `respond: --request: "a b" must be 1-64 characters of [A-Za-z0-9._-]`},
		{[]string{"dispute", "x", "--reason", "r", "--finding", "a b"}, `dispute: --finding: "a b" must be 1-64 characters of [A-Za-z0-9._-]`},
		{[]string{"rule", "x", "--decision", "d", "--dispute", "a b"}, `rule: --dispute: "a b" must be 1-64 characters of [A-Za-z0-9._-]`},
		{[]string{"withdraw", "x", "--reason", long}, "withdraw: --reason: 4097 bytes, at most 4096"},
		{[]string{"finding", "x", "--verdict", "confirmed", "--reason", long}, "finding: --reason: 4097 bytes, at most 4096"},
		{[]string{"evidence", "x", "--note", long, "--evidence", strings.Repeat("ab", 32)}, "evidence: --note: 4097 bytes, at most 4096"},
	} {
		t.Run(strings.Join(tc.args[:1], " "), func(t *testing.T) {
			code, out, errOut := run(t, append([]string{"--as", "anyone"}, tc.args...)...)
			if code != ExitUsage || out != "" || errOut != tc.want+"\n" {
				t.Errorf("%v: exit %d, stdout %q, stderr %q; want exit %d, stderr %q", tc.args, code, out, errOut, ExitUsage, tc.want)
			}
		})
	}
}

// Every flag fieldFlags names is a flag of some command: a renamed flag
// cannot leave a message pointing at a flag that does not exist.
func TestFieldFlagsExist(t *testing.T) {
	all := map[string]bool{}
	for _, c := range commands() {
		fs := flag.NewFlagSet(c.name, flag.ContinueOnError)
		c.flags.register(fs)
		fs.VisitAll(func(f *flag.Flag) { all["--"+f.Name] = true })
	}
	for field, name := range fieldFlags {
		if strings.HasPrefix(name, "--") && !all[name] {
			t.Errorf("field %s maps to %s, which no command has", field, name)
		}
	}
	for _, field := range []string{"note", "reason", "question", "answer", "decision", "summary", "responder"} {
		if name := flagOf(field); !all[name] {
			t.Errorf("field %s maps to %s, which no command has", field, name)
		}
	}
}

func TestServerAddr(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"127.0.0.1:7443", "127.0.0.1:7443"},
		{"127.0.0.1:9000", "127.0.0.1:9000"},
		{"127.0.0.1", "127.0.0.1:7443"},
		{"mvm.example", "mvm.example:7443"},
		{"mvm.example:", "mvm.example:7443"},
		{"[::1]", "[::1]:7443"},
		{"[::1]:9000", "[::1]:9000"},
		{"::1", "[::1]:7443"},
		{"2001:db8::7", "[2001:db8::7]:7443"},
		{"", ""},
		{":7443", ""},
		{"a b", ""},
		{"host:7443:1", ""},
	} {
		got, err := serverAddr(tc.in)
		if tc.want == "" {
			if err == nil {
				t.Errorf("serverAddr(%q) = %q, want an error", tc.in, got)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("serverAddr(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
}

func TestNearest(t *testing.T) {
	names := []string{"submit", "summary", "status", "server", "show", "list", "lat", "lon", "as-of", "audit"}
	for _, tc := range []struct{ in, want string }{
		{"sumary", "summary"},
		{"sumbit", "submit"},
		{"stats", "status"},
		{"sever", "server"},
		{"shw", "show"},
		{"lst", "list"},
		{"asof", "as-of"},
		{"aud", "audit"}, // a prefix of one name
		{"lo", "lon"},
		{"su", ""}, // a prefix of two: no guess
		{"frobnicate", ""},
		{"x", ""},
	} {
		if got := nearest(tc.in, names); got != tc.want {
			t.Errorf("nearest(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestParseTime(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"2026-12-31", "2026-12-31T00:00:00Z"},
		{"2026-12-31T06:00:00+02:00", "2026-12-31T04:00:00Z"},
		{"2026-12-31T00:00:00Z", "2026-12-31T00:00:00Z"},
		{"31/12/2026", ""},
		{"2026-13-01", ""},
	} {
		got, err := parseTime(tc.in)
		if tc.want == "" {
			if err == nil {
				t.Errorf("parseTime(%q) = %v, want an error", tc.in, got)
			}
			continue
		}
		if err != nil || stamp(got) != tc.want {
			t.Errorf("parseTime(%q) = %v, %v; want %s", tc.in, got, err, tc.want)
		}
	}
}
