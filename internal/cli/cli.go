// Package cli is the MVM Exchange command line: one function, [Run], that
// the client binary calls with its arguments. Every command prints its
// result on stdout and, on failure, one line on stderr and a non-zero exit
// status.
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/pprof"
	"sort"
	"strings"
	"time"

	"google.golang.org/grpc/status"

	"github.com/mvm-exchange/mvm/client/mvmclient"
)

// Exit statuses.
const (
	ExitOK    = 0
	ExitFail  = 1
	ExitUsage = 2
)

type env struct {
	stdout, stderr io.Writer
	server, certs  string
	as             string
	timeout        time.Duration
	unbounded      bool // no overall deadline: a long-running command without --timeout
	ctx            context.Context
}

type command struct {
	name    string
	args    string
	summary string
	run     func(e *env, fs *flag.FlagSet, args []string) error
	flags   func(fs *flag.FlagSet)
	// identityOptional commands run without --as (offline, or with a default).
	identityOptional bool
	// longRunning commands (audit, export, watch, bench) run without an
	// overall deadline unless --timeout is given.
	longRunning bool
}

var commands []*command

func register(c *command) { commands = append(commands, c) }

// usageError is a mistake in the command line.
type usageError struct{ msg string }

func (u usageError) Error() string { return u.msg }

func usagef(format string, args ...any) error { return usageError{fmt.Sprintf(format, args...)} }

// Run executes the command line args (without the program name).
func Run(args []string, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if path := os.Getenv("MVM_CPU_PROFILE"); path != "" {
		// For measuring the client side of `bench`; see docs/PERFORMANCE.md.
		if f, err := os.Create(path); err == nil && pprof.StartCPUProfile(f) == nil {
			defer pprof.StopCPUProfile()
		}
	}
	e := &env{stdout: stdout, stderr: stderr, ctx: ctx, timeout: 30 * time.Second,
		server: envOr("MVM_SERVER", "127.0.0.1:7443"), certs: envOr("MVM_CERTS", "certs"), as: os.Getenv("MVM_AS")}
	global := flag.NewFlagSet("client", flag.ContinueOnError)
	global.SetOutput(io.Discard)
	e.globalFlags(global)
	rest, err := parseInterspersed(global, args, 1)
	switch {
	case errors.Is(err, flag.ErrHelp) || (err == nil && len(rest) == 0):
		e.usage()
		return ExitUsage
	case err != nil:
		fmt.Fprintln(stderr, "client:", err)
		return ExitUsage
	}
	name, cmdArgs := rest[0], rest[1:]
	var cmd *command
	for _, c := range commands {
		if c.name == name {
			cmd = c
		}
	}
	if cmd == nil {
		fmt.Fprintf(stderr, "client: unknown command %q (run with no arguments for the list)\n", name)
		return ExitUsage
	}
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	e.globalFlags(fs)
	if cmd.flags != nil {
		cmd.flags(fs)
	}
	pos, err := parseInterspersed(fs, cmdArgs, -1)
	if errors.Is(err, flag.ErrHelp) {
		fs.SetOutput(stdout)
		fmt.Fprintf(stdout, "usage: client [global flags] %s %s\n  %s\n", cmd.name, cmd.args, cmd.summary)
		fs.PrintDefaults()
		return ExitOK
	}
	if err != nil {
		err = usageError{err.Error()} // a flag the command does not have, or a bad value
	}
	e.unbounded = cmd.longRunning && !flagSet(global, "timeout") && !flagSet(fs, "timeout")
	if err == nil {
		if !cmd.identityOptional && e.as == "" {
			err = usagef("--as NAME is required (e.g. --as pk-liaison)")
		} else {
			err = cmd.run(e, fs, pos)
		}
	}
	if err != nil {
		fmt.Fprintf(stderr, "%s: %s\n", name, oneLine(err))
		var u usageError
		if errors.As(err, &u) {
			return ExitUsage
		}
		return ExitFail
	}
	return ExitOK
}

// globalFlags registers the global flags on fs. They are registered on the
// command's flag set too, so they may also follow the command; the current
// values are the defaults, so a second registration keeps what was parsed.
func (e *env) globalFlags(fs *flag.FlagSet) {
	fs.StringVar(&e.server, "server", e.server, "server address (env MVM_SERVER)")
	fs.StringVar(&e.certs, "certs", e.certs, "PKI directory (env MVM_CERTS)")
	fs.StringVar(&e.as, "as", e.as, "identity NAME: loads CERTS/NAME.crt and .key (env MVM_AS)")
	fs.DurationVar(&e.timeout, "timeout", e.timeout, "overall time limit of the command")
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

func (e *env) usage() {
	fmt.Fprintln(e.stderr, "usage: client [--server ADDR] [--certs DIR] --as NAME COMMAND [ARGS]")
	fmt.Fprintln(e.stderr, "\ncommands:")
	cs := append([]*command(nil), commands...)
	sort.Slice(cs, func(i, j int) bool { return cs[i].name < cs[j].name })
	for _, c := range cs {
		fmt.Fprintf(e.stderr, "  %-14s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(e.stderr, "\nrun 'client COMMAND -h' for a command's flags")
}

// dial connects as the --as identity.
func (e *env) dial() (*mvmclient.Client, error) {
	return mvmclient.Dial(mvmclient.FromCertsDir(e.server, e.certs, e.as))
}

func (e *env) context() (context.Context, context.CancelFunc) {
	if e.unbounded {
		return context.WithCancel(e.ctx)
	}
	return context.WithTimeout(e.ctx, e.timeout)
}

// oneLine renders an error as one line; gRPC errors as their message.
func oneLine(err error) string {
	msg := err.Error()
	if s, ok := status.FromError(err); ok {
		msg = s.Message()
		if msg == "" {
			msg = s.Code().String()
		}
	}
	return strings.Join(strings.Fields(msg), " ")
}

func (e *env) printf(format string, args ...any) { fmt.Fprintf(e.stdout, format, args...) }

// exactly checks the number of positional arguments.
func exactly(n int, args []string, what string) error {
	if len(args) != n {
		return usagef("want %s, got %d argument(s)", what, len(args))
	}
	return nil
}
