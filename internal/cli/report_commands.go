package cli

import "flag"

// The report commands, in the shape of one flags struct with register and
// run per command; these lines adapt them to the command list until it is
// a table.
func init() {
	for _, c := range []struct {
		name, args, summary string
		cmd                 interface {
			register(*flag.FlagSet)
			run(*env, []string) error
		}
	}{
		{"monthly-report", "[--month YYYY-MM] [--out DIR] [--state FILE]",
			"write the month's report (HTML and JSON), computed from the verified log", &monthlyReportCmd{}},
		{"verify-report", "FILE.json", "recompute a monthly report's JSON from the log at its checkpoint and compare", &verifyReportCmd{}},
	} {
		register(&command{name: c.name, args: c.args, summary: c.summary, longRunning: true,
			flags: c.cmd.register, run: func(e *env, _ *flag.FlagSet, args []string) error { return c.cmd.run(e, args) }})
	}
}
