package cli

import "flag"

// exportCmd writes an offline audit bundle (export.go).
type exportCmd struct{ out outFlag }

func (c *exportCmd) register(fs *flag.FlagSet) { c.out.register(fs, "bundle file to write (required)") }

func (c *exportCmd) run(e *env, args []string) error { return c.out.run(e, args, export) }
