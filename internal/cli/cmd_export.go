package cli

import "flag"

// exportCmd writes an offline audit bundle (export.go).
type exportCmd struct {
	out    outFlag
	format string
	keys   stringList
}

func (c *exportCmd) register(fs *flag.FlagSet) {
	c.out.register(fs, "bundle file to write (required)")
	fs.StringVar(&c.format, "format", "bundle", "bundle (an offline audit bundle), stix (a STIX 2.1 bundle) or geojson (RFC 7946); see exports.go")
	keyFlag(fs, &c.keys)
}

func (c *exportCmd) run(e *env, args []string) error {
	if c.format != "bundle" {
		if err := e.useKeys(c.keys); err != nil {
			return err
		}
		return c.out.run(e, args, exportFormat(c.format))
	}
	if len(c.keys) > 0 {
		return usagef("--key: a bundle holds the log as logged, its bodies sealed; --key opens them for --format stix or geojson")
	}
	return c.out.run(e, args, export)
}
