package cli

import "flag"

// The command table: a row a command, its flags struct and its spec.
// A command is one file, cmd_NAME.go, holding its flags struct (every
// flag's value is a field of it) with two methods:
//
//	func (c *nameCmd) register(fs *flag.FlagSet)      // binds c's fields to its flags
//	func (c *nameCmd) run(e *env, args []string) error // runs it, once they are parsed
//
// A command that appends one message about the package its one argument
// names has message(id string) (proto.Message, error) instead of run, and
// its row wraps it in aboutPackage, which adds the argument, --receipt and
// the append (append.go).
//
// Adding a command is that file plus one row at the end of the table (the
// order breaks the did-you-mean hint's ties; the help sorts by name).
// commands makes a new table, and so new flags structs, for every [Run]:
// a run never sees a value another run parsed, there is nothing to reset,
// and nothing is registered at package initialisation. The help (help.go)
// and the did-you-mean hints are made from the table.
func commands() []command {
	return []command{
		{&amendCmd{}, spec{name: "amend", args: "propose --out FILE [changes] | sign FILE [--yes] | submit FILE [--state FILE]", summary: "amend the agreement: propose and sign a change, co-sign it, submit it once every party signed"}},
		{&submitCmd{}, spec{name: "submit", args: "--lat DEG --lon DEG [--summary TEXT] [--to PARTY[,PARTY]]", summary: "submit a target package (submitter); prints the package id first"}},
		{aboutPackage(&ackCmd{}), spec{name: "ack", args: "ID [--note TEXT]", summary: "acknowledge a package (responder)"}},
		{aboutPackage(&reportCmd{}), spec{name: "report", args: "ID --outcome raid|destroyed|arrests|not-found|no-access|declined [--note TEXT]", summary: "report the action taken on a package (responder)"}},
		{&auditCmd{}, spec{name: "audit", args: "[--state FILE] [--bundle FILE] [--log-key FILE] [--agreement FILE] [--crl FILE ...] [--temp-dir DIR] [--evidence]", summary: "verify the whole log: every entry, the workflow, the checkpoint, consistency with the last audit; --evidence: every stored evidence file", longRunning: true, identityOptional: true}},
		{&backupCmd{}, spec{name: "backup", args: "--out FILE", longRunning: true, summary: "operators: save a consistent copy of the server's database (a file a server can start on)"}},
		{&benchCmd{}, spec{name: "bench", args: "[--duration 10s] [--concurrency 64] [--payload-bytes 512] [--connections 4] [--json] [--unary] [--receipts FILE] [--max N] [--cpu-profile FILE] [--force] [--mix package=1,ack=1,report=1,rfi=2] [--packages N]", summary: "drive the server with real signed appends and report throughput and latency", identityOptional: true, longRunning: true}},
		{&verifyReceiptCmd{}, spec{name: "verify-receipt", args: "FILE [--log-key FILE]", identityOptional: true, summary: "verify a receipt offline: log signature, inclusion proof, and the logged entry"}},
		{&checkpointCmd{}, spec{name: "checkpoint", args: "[--size N] [--witnessed]", summary: "print a signed checkpoint with its mediator cosignatures (signed-note text)"}},
		{&exportCmd{}, spec{name: "export", args: "--out FILE [--format bundle|stix|geojson]", longRunning: true, summary: "write an offline audit bundle: entries, signer certificates, checkpoint and cosignatures"}},
		{&showCmd{}, spec{name: "show", args: "ID [--state FILE] [--key FILE|DIR]", summary: "show a package re-derived from its signed entries: status, every signed field, history"}},
		{&listCmd{}, spec{name: "list", args: "[--status S] [--page-size N] [--key FILE|DIR]", summary: "list the packages you may read, with their status"}},
		{&breachesCmd{}, spec{name: "breaches", args: "[--as-of TIME|DATE] [--party P] [--page-size N] [--verify [--state FILE]] [--key FILE|DIR]", summary: "list every deadline missed as of a time, computed from the log and the agreement"}},
		{&agreementCmd{}, spec{name: "agreement", args: "show [--state FILE]", summary: "print the agreement in force, derived from the log"}},
		{&watchCmd{}, spec{name: "watch", args: "[--from N] [--count N] [--state FILE] [--key FILE|DIR]", longRunning: true, summary: "print log entries from index N on as they are committed, each once a signed checkpoint covers it and it verifies; reconnects without gaps"}},
		{aboutPackage(&rfiCmd{}), spec{name: "rfi", args: "ID --question TEXT", summary: "request information on a package (responder)"}},
		{aboutPackage(&respondCmd{}), spec{name: "respond", args: "ID --answer TEXT [--request RFI-ID]", summary: "answer a request for information (submitter)"}},
		{&evidenceCmd{}, spec{name: "evidence", longRunning: true, args: "ID --file PATH [--file PATH...] [--evidence SHA256...] [--note TEXT]\n       evidence get ID --out DIR [--name NAME]   (a cut download resumes when run again)\n       evidence get ID --name NAME --range START-END --out FILE [--unverified]\n       evidence list ID", summary: "upload evidence files and log the signed submission (responder); get or list a package's files, verified"}},
		{aboutPackage(&withdrawCmd{}), spec{name: "withdraw", args: "ID --reason TEXT", summary: "withdraw a package (submitter)"}},
		{aboutPackage(&findingCmd{}), spec{name: "finding", args: "ID --verdict confirmed|inconclusive|contradicted --reason TEXT", summary: "record a verification finding (mediator)"}},
		{aboutPackage(&disputeCmd{}), spec{name: "dispute", args: "ID --reason TEXT [--finding FINDING-ID]", summary: "dispute a package or a finding (submitter or responder)"}},
		{aboutPackage(&ruleCmd{}), spec{name: "rule", args: "ID --decision TEXT [--dispute DISPUTE-ID]", summary: "sign a ruling on the package's open dispute (mediator)"}},
		{&monthlyReportCmd{}, spec{name: "monthly-report", args: "[--month YYYY-MM] [--out DIR] [--state FILE] [--publish]", longRunning: true, summary: "write the month's report (HTML and JSON), computed from the verified log"}},
		{&verifyReportCmd{}, spec{name: "verify-report", args: "FILE.json [--publish]", longRunning: true, summary: "recompute a monthly report's JSON from the log at its checkpoint and compare"}},
		{&showReportCmd{}, spec{name: "show-report", args: "MONTH [--file FILE.json] [--state FILE]", longRunning: true, summary: "list the month's report publications from the verified log and say whether the report is agreed"}},
		{&verifyForkCmd{}, spec{name: "verify-fork", args: "FILE [--log-key FILE]", identityOptional: true, summary: "check a fork proof offline: two checkpoints the log signed that no append-only log can both have signed"}},
		{&statusCmd{}, spec{name: "status", summary: "print what the server says it is: the primary, or a mediator node with its copy's size, lag and alarm (exit 1 on an alarm)"}},
	}
}

// command is a row of the table.
type command struct {
	flags commandFlags // new for each table
	spec
}

// commandFlags is a command's flags struct; see [commands].
type commandFlags interface {
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
