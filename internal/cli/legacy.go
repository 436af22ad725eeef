package cli

import "flag"

// registered is a command not yet moved to a file of its own: its flags
// are closures' variables, registered by init(). Gone once every command
// has its file (see commands.go).
type registered struct {
	name    string
	args    string
	summary string
	run     func(e *env, fs *flag.FlagSet, args []string) error
	flags   func(fs *flag.FlagSet)

	identityOptional bool
	longRunning      bool
}

var registeredCommands []*registered

func register(c *registered) { registeredCommands = append(registeredCommands, c) }

// legacy adapts a registered command to the table's interface.
type legacy struct {
	c  *registered
	fs *flag.FlagSet
}

func (l *legacy) spec() spec {
	return spec{name: l.c.name, args: l.c.args, summary: l.c.summary, identityOptional: l.c.identityOptional, longRunning: l.c.longRunning}
}

func (l *legacy) register(fs *flag.FlagSet) {
	l.fs = fs
	if l.c.flags != nil {
		l.c.flags(fs)
	}
}

func (l *legacy) run(e *env, args []string) error { return l.c.run(e, l.fs, args) }

func legacyCommands() []command {
	var out []command
	for _, c := range registeredCommands {
		out = append(out, &legacy{c: c})
	}
	return out
}
