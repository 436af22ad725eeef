package cli

import "flag"

// backupCmd saves a checked copy of the server's database (backup.go).
type backupCmd struct{ out outFlag }

func (c *backupCmd) register(fs *flag.FlagSet) {
	c.out.register(fs, "database file to write (required)")
}

func (c *backupCmd) run(e *env, args []string) error { return c.out.run(e, args, backup) }
