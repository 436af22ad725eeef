package cli

import "flag"

// backupCmd saves a checked copy of the server's database (backup.go).
type backupCmd struct{ out outFlag }

func (*backupCmd) spec() spec {
	return spec{name: "backup", args: "--out FILE", longRunning: true,
		summary: "operators: save a consistent copy of the server's database (a file a server can start on)"}
}

func (c *backupCmd) register(fs *flag.FlagSet) {
	c.out.register(fs, "database file to write (required)")
}

func (c *backupCmd) run(e *env, args []string) error { return c.out.run(e, args, backup) }
