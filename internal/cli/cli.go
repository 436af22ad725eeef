// Package cli is the MVM Exchange command line: one function, [Run], that
// the client binary calls with its arguments.
//
// Guarantees:
//   - Every command prints its result on stdout and, on failure, one line
//     on stderr: exit status 1 for a failure, 2 for a command line mistake
//     (which names the flag typed, and the nearest flag or command when
//     the one typed does not exist). Help (-h, --help) goes to stdout, exit 0.
//   - A message is validated with the server's own rules (package message)
//     before it is signed; nothing is sent when it fails.
//   - Every file a command writes is mode 0600 and appears whole or not at
//     all (internal/atomicfile, through writeOut); a failed command leaves
//     no partial file.
//   - Run may be called many times in one process: each call parses into
//     flags of its own (the command table, commands.go), so nothing one
//     command line set is seen by the next.
//   - A failure to connect says which: nothing answers at the address, or
//     the server refused this client's certificate (expired, revoked by a
//     CRL in --certs), or the server's certificate is not the pinned CA's.
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"time"

	"google.golang.org/grpc/status"

	mvmv1 "github.com/mvm-exchange/mvm/proto/mvm/v1"
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
	unbounded      bool     // no overall deadline: a long-running command without --timeout
	keyFiles       []string // --key of the command, if it has one (keys.go)
	sealTo         []string // submit --to: the recipients asked for (sealed.go)
	// comparedWithNode: the --state checkpoint was handed to the server
	// once this run (node_compare.go).
	comparedWithNode bool
	// serverStatus is the server's GetStatus answer, asked once a run
	// (serverRole).
	serverStatus *mvmv1.GetStatusResponse
	ctx          context.Context
}

// Defaults of the global flags.
const (
	defaultPort    = "7443"
	defaultServer  = "127.0.0.1:" + defaultPort
	defaultTimeout = 30 * time.Second
)

// Run executes the command line args (without the program name).
func Run(args []string, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	defer startProfile(stderr)()
	e := &env{stdout: stdout, stderr: stderr, ctx: ctx,
		server: envOr("MVM_SERVER", defaultServer), certs: envOr("MVM_CERTS", "certs"), as: os.Getenv("MVM_AS")}
	global := flag.NewFlagSet("client", flag.ContinueOnError)
	global.SetOutput(io.Discard)
	e.globalFlags(global)
	rest, err := parseInterspersed(global, args, 1)
	switch {
	case errors.Is(err, flag.ErrHelp) || (err == nil && len(rest) == 1 && rest[0] == "help"):
		usage(stdout, commands())
		return ExitOK
	case err != nil:
		fmt.Fprintf(stderr, "client: %s\n", flagError(err, global, ""))
		return ExitUsage
	case len(rest) == 0:
		usage(stderr, commands())
		return ExitUsage
	}
	name, cmdArgs := rest[0], rest[1:]
	if name == "help" { // client help COMMAND
		name, cmdArgs = cmdArgs[0], []string{"-h"}
	}
	table := commands()
	var cmd *command
	var names []string
	for _, c := range table {
		names = append(names, c.name)
		if c.name == name {
			cmd = &c
		}
	}
	if cmd == nil {
		hint := "run 'client -h' for the list"
		if near := nearest(name, names); near != "" {
			hint = "did you mean " + near + "?"
		}
		fmt.Fprintf(stderr, "client: unknown command %q; %s\n", name, hint)
		return ExitUsage
	}
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	e.globalFlags(fs)
	cmd.flags.register(fs)
	pos, err := parseInterspersed(fs, cmdArgs, -1)
	if errors.Is(err, flag.ErrHelp) {
		commandHelp(stdout, cmd)
		return ExitOK
	}
	if err != nil {
		err = usageError{flagError(err, fs, name)} // a flag the command does not have, or a bad value
	}
	timeoutSet := flagSet(global, "timeout") || flagSet(fs, "timeout")
	e.unbounded = (cmd.longRunning && !timeoutSet) || (timeoutSet && e.timeout == 0)
	if !timeoutSet {
		e.timeout = defaultTimeout
	}
	if e.timeout < 0 && err == nil {
		err = usagef("--timeout %s: want a positive duration, or 0 for none", e.timeout)
	}
	if err == nil {
		e.server, err = serverAddr(e.server)
	}
	if err == nil {
		if !cmd.identityOptional && e.as == "" {
			err = usagef("--as NAME is required (e.g. --as pk-liaison)")
		} else {
			err = cmd.flags.run(e, pos)
		}
	}
	if err != nil {
		fmt.Fprintf(stderr, "%s: %s\n", name, e.explain(err))
		var u usageError
		if errors.As(err, &u) {
			return ExitUsage
		}
		return ExitFail
	}
	return ExitOK
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
