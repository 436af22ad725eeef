package cli

import "flag"

// exportCmd writes an offline audit bundle (export.go).
type exportCmd struct {
	out    outFlag
	format string
}

func (c *exportCmd) register(fs *flag.FlagSet) {
	c.out.register(fs, "bundle file to write (required)")
	fs.StringVar(&c.format, "format", "bundle", "bundle (an offline audit bundle), stix (a STIX 2.1 bundle) or geojson (RFC 7946); see exports.go")
}

func (c *exportCmd) run(e *env, args []string) error {
	if c.format != "bundle" {
		return c.out.run(e, args, exportFormat(c.format))
	}
	return c.out.run(e, args, export)
}
