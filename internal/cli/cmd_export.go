package cli

import "flag"

// exportCmd writes an offline audit bundle (export.go).
type exportCmd struct{ out outFlag }

func (*exportCmd) spec() spec {
	return spec{name: "export", args: "--out FILE", longRunning: true,
		summary: "write an offline audit bundle: entries, signer certificates, checkpoint and cosignatures"}
}

func (c *exportCmd) register(fs *flag.FlagSet) { c.out.register(fs, "bundle file to write (required)") }

func (c *exportCmd) run(e *env, args []string) error { return c.out.run(e, args, export) }
