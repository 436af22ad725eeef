package cli

import (
	"flag"
	"fmt"
	"net"
	"os"
	"strings"
)

// The command line's words: the global flags (before or after the
// command), flags among the positional arguments, and the mistakes a user
// makes in them (usageError, exit status 2).

// usageError is a mistake in the command line.
type usageError struct{ msg string }

func (u usageError) Error() string { return u.msg }

func usagef(format string, args ...any) error { return usageError{fmt.Sprintf(format, args...)} }

// globalFlags registers the global flags on fs. They are registered on the
// command's flag set too, so they may also follow the command; the current
// values are the defaults, so a second registration keeps what was parsed.
// Their help is globalHelp's.
func (e *env) globalFlags(fs *flag.FlagSet) {
	fs.StringVar(&e.server, "server", e.server, "server HOST[:PORT]")
	fs.StringVar(&e.certs, "certs", e.certs, "PKI directory")
	fs.StringVar(&e.as, "as", e.as, "identity NAME")
	fs.DurationVar(&e.timeout, "timeout", e.timeout, "overall time limit")
}

// serverAddr completes a server address: a HOST without a port (a name,
// an IPv4 address, an IPv6 address with or without brackets) gets the
// default port.
func serverAddr(s string) (string, error) {
	if s == "" {
		return "", usagef("--server: empty address")
	}
	if host, port, err := net.SplitHostPort(s); err == nil {
		if port == "" {
			port = defaultPort
		}
		if host == "" {
			return "", usagef("--server %q: no host", s)
		}
		return net.JoinHostPort(host, port), nil
	}
	host := s
	if strings.HasPrefix(s, "[") && strings.HasSuffix(s, "]") {
		host = s[1 : len(s)-1]
	}
	if strings.ContainsAny(host, "[]/ ") || host == "" {
		return "", usagef("--server %q: want HOST or HOST:PORT (IPv6 as [ADDR]:PORT)", s)
	}
	if strings.Contains(host, ":") && net.ParseIP(host) == nil {
		return "", usagef("--server %q: want HOST or HOST:PORT (IPv6 as [ADDR]:PORT)", s)
	}
	return net.JoinHostPort(host, defaultPort), nil
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

// parseInterspersed parses flags anywhere among the positional arguments.
// With stopAfter >= 0 it stops at that many positionals, leaving the rest
// unparsed (the global flags stop at the command name).
func parseInterspersed(fs *flag.FlagSet, args []string, stopAfter int) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		if args[0] == "--" {
			return append(pos, args[1:]...), nil
		}
		pos = append(pos, args[0])
		args = args[1:]
		if stopAfter >= 0 && len(pos) >= stopAfter {
			return append(pos, args...), nil
		}
	}
}

// exactly checks the number of positional arguments.
func exactly(n int, args []string, what string) error {
	if len(args) != n {
		return usagef("want %s, got %d argument(s)", what, len(args))
	}
	return nil
}
func flagSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}
