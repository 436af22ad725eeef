package cli

import "flag"

// The command table. A command is one file, cmd_NAME.go, holding a flags
// struct (every flag's value is a field of it) with three methods:
//
//	func (*nameCmd) spec() spec                      // name, arguments, one-line summary for the help
//	func (c *nameCmd) register(fs *flag.FlagSet)     // binds c's fields to its flags
//	func (c *nameCmd) run(e *env, args []string) error
//
// Adding a command is that file plus one line below. [commands] makes a
// new table, and so new flags structs, for every [Run]: a run never sees a
// value another run parsed, with nothing to reset, and nothing is
// registered at package initialisation. The help (help.go) and the
// did-you-mean hints are made from this table.
func commands() []command {
	table := []command{
		&amendCmd{},
		&submitCmd{},
		&ackCmd{},
		&reportCmd{},
		&auditCmd{},
		&backupCmd{},
		&verifyReceiptCmd{},
		&checkpointCmd{},
		&exportCmd{},
		&rfiCmd{},
		&respondCmd{},
		&evidenceCmd{},
		&withdrawCmd{},
		&findingCmd{},
		&disputeCmd{},
		&ruleCmd{},
	}
	return append(table, legacyCommands()...)
}

// command is a command's flags struct; see [commands].
type command interface {
	spec() spec
	// register binds the command's flags, and only those, on fs: the
	// global flags are Run's.
	register(fs *flag.FlagSet)
	// run runs the command with its positional arguments, once its flags
	// (and the global ones, in e) are parsed.
	run(e *env, args []string) error
}

// spec describes a command for the help and for Run.
type spec struct {
	name    string
	args    string // the synopsis after the name
	summary string
	// identityOptional commands run without --as (offline, or with a default).
	identityOptional bool
	// longRunning commands (audit, export, watch, bench) run without an
	// overall deadline unless --timeout is given.
	longRunning bool
}
