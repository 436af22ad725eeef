package cli

import (
	"flag"
	"fmt"
	"io"
	"sort"
	"strings"
)

// The help a user sees: `client -h` (or --help, or `client help`) prints
// the commands, the global flags and the environment on stdout and exits 0;
// `client` alone prints the same on stderr and exits 2; `client CMD -h`
// prints the command's flags, the global flags and the environment. A flag
// or command that does not exist is answered with the nearest one.

// longRunningNames lists the commands without an overall deadline.
func longRunningNames(table []command) string {
	var names []string
	for _, c := range sortedSpecs(table) {
		if c.longRunning {
			names = append(names, c.name)
		}
	}
	return strings.Join(names, ", ")
}

func sortedSpecs(table []command) []spec {
	specs := make([]spec, len(table))
	for i, c := range table {
		specs[i] = c.spec
	}
	sort.Slice(specs, func(i, j int) bool { return specs[i].name < specs[j].name })
	return specs
}

func usage(w io.Writer, table []command) {
	fmt.Fprintln(w, "usage: client [global flags] COMMAND [ARGS] [FLAGS]")
	fmt.Fprintln(w, "\ncommands:")
	for _, c := range sortedSpecs(table) {
		fmt.Fprintf(w, "  %-15s %s\n", c.name, c.summary)
	}
	globalHelp(w, nil, longRunningNames(table))
	fmt.Fprintln(w, "\nrun 'client COMMAND -h' for a command's flags")
}

// commandHelp prints a command's usage: its own flags, then the global ones.
func commandHelp(w io.Writer, cmd *command) {
	fmt.Fprintf(w, "usage: client [global flags] %s %s\n  %s\n", cmd.name, cmd.args, cmd.summary)
	own := flag.NewFlagSet(cmd.name, flag.ContinueOnError)
	cmd.flags.register(own)
	if hasFlags(own) {
		fmt.Fprintln(w, "\nflags:")
		printFlags(w, own)
	}
	globalHelp(w, &cmd.spec, "")
}

func hasFlags(fs *flag.FlagSet) bool {
	n := 0
	fs.VisitAll(func(*flag.Flag) { n++ })
	return n > 0
}

// globalHelp prints the global flags and the environment; for cmd, the
// deadline that applies to it, else the commands that have none
// (longRunning).
func globalHelp(w io.Writer, cmd *spec, longRunning string) {
	timeout := fmt.Sprintf("overall time limit of the command, e.g. 2m, 0 for none (default %s; none for %s)", defaultTimeout, longRunning)
	if cmd != nil && cmd.longRunning {
		timeout = "overall time limit, e.g. 2m (default: none, runs until done or interrupted)"
	} else if cmd != nil {
		timeout = fmt.Sprintf("overall time limit of the command, e.g. 2m, 0 for none (default %s)", defaultTimeout)
	}
	fmt.Fprintf(w, `
global flags (before or after the command):
  --as NAME       identity: loads CERTS/NAME.crt and CERTS/NAME.key
  --certs DIR     PKI directory: identities, ca-server.crt, log.vkey, agreement.envelope, crl-*.pem (default certs)
  --server ADDR   server HOST[:PORT]; the port defaults to %s (default %s)
  --timeout DUR   %s

environment:
  MVM_AS, MVM_CERTS, MVM_SERVER   defaults of --as, --certs and --server
  MVM_CPU_PROFILE                 write the client's CPU profile to this file
  GOGC, GOMEMLIMIT                audit and bench default to GOGC=400; audit to a soft GOMEMLIMIT=256MiB
`, defaultPort, defaultServer, timeout)
}

// printFlags lists fs's flags in the --name form the user types.
func printFlags(w io.Writer, fs *flag.FlagSet) {
	fs.VisitAll(func(f *flag.Flag) {
		name, usage := flag.UnquoteUsage(f)
		line := "  --" + f.Name
		if name != "" {
			line += " " + name
		}
		if !zeroDefault(f.DefValue) {
			usage += fmt.Sprintf(" (default %s)", f.DefValue)
		}
		fmt.Fprintf(w, "%s\n      %s\n", line, usage)
	})
}

func zeroDefault(v string) bool {
	switch v {
	case "", "0", "false", "0s", "-1":
		return true
	}
	return false
}

// flagError rewrites the flag package's errors in the words a user types
// (--name), with the nearest flag when the one given does not exist.
func flagError(err error, fs *flag.FlagSet, cmd string) string {
	msg := err.Error()
	if name, ok := strings.CutPrefix(msg, "flag provided but not defined: -"); ok {
		name = strings.TrimPrefix(name, "-")
		var names []string
		fs.VisitAll(func(f *flag.Flag) { names = append(names, f.Name) })
		if near := nearest(name, names); near != "" {
			return fmt.Sprintf("unknown flag --%s; did you mean --%s?", name, near)
		}
		help := "client -h"
		if cmd != "" {
			help = "client " + cmd + " -h"
		}
		return fmt.Sprintf("unknown flag --%s (run '%s' for the flags)", name, help)
	}
	if name, ok := strings.CutPrefix(msg, "flag needs an argument: -"); ok {
		return fmt.Sprintf("--%s needs a value", strings.TrimPrefix(name, "-"))
	}
	return strings.Replace(msg, " for flag -", " for --", 1)
}

// nearest returns the candidate closest to s, if one is close enough to be
// a typing mistake: at most one edit for short names, two for longer ones
// (a transposition counts as one edit), or s is a prefix of exactly one.
func nearest(s string, candidates []string) string {
	best, bestD := "", 3
	if len(s) <= 4 {
		bestD = 2
	}
	for _, c := range candidates {
		if d := editDistance(s, c); d < bestD {
			best, bestD = c, d
		}
	}
	if best != "" {
		return best
	}
	var prefixed []string
	for _, c := range candidates {
		if len(s) >= 2 && strings.HasPrefix(c, s) {
			prefixed = append(prefixed, c)
		}
	}
	if len(prefixed) == 1 {
		return prefixed[0]
	}
	return ""
}

// editDistance is the optimal string alignment distance: insertions,
// deletions, substitutions and transpositions of adjacent bytes.
func editDistance(a, b string) int {
	d := make([][]int, len(a)+1)
	for i := range d {
		d[i] = make([]int, len(b)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(a); i++ {
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(a)][len(b)]
}
