// Command gencerts writes the development PKI and dev agreement (see package
// devpki), or issues one extra client identity into an existing PKI.
//
//	gencerts [--force] [--unsealed] [--no-node-witnesses] [--trust-domain TD] [--log-origin ORIGIN] [DIR]
//	gencerts --issue NAME --party P [--force] [DIR]
//	gencerts --revoke NAME [DIR]
//	gencerts --witness NAME VKEY [DIR]
//
// DIR defaults to "certs". For development and tests only.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/mvm-exchange/mvm/internal/agreement"
	"github.com/mvm-exchange/mvm/internal/devpki"
)

const usage = `usage:
  gencerts [--force] [--unsealed] [--no-node-witnesses] [--trust-domain TD] [--log-origin ORIGIN] [DIR]
  gencerts --issue NAME --party P [--force] [DIR]
  gencerts --revoke NAME [DIR]
  gencerts --witness NAME VKEY [DIR]

Writes the development PKI and dev agreement into DIR (default "certs"), or
with --issue adds one client identity DIR/NAME.crt/.key signed by
DIR/ca-P, or with --revoke adds DIR/NAME.crt to the CRL of the party CA
that issued it, DIR/crl-P.pem (created if missing, its number incremented
otherwise; revocation time now), or with --witness adds the external
C2SP witness NAME, with its cosignature/v1 verifier key VKEY, to the dev
agreement DIR/agreement.envelope, signed again by every party (a server's
log begun on the old agreement must be deleted).

A DIR that already holds a PKI is kept: gencerts exits 0 if it is complete
and valid, and otherwise fails naming each missing or invalid file. --force
generates a new PKI over it, and --issue --force a new identity over one.
`

func main() {
	err := run(os.Args[1:], os.Stdout)
	if errors.Is(err, flag.ErrHelp) {
		fmt.Fprint(os.Stderr, usage)
		return
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "gencerts: %s\n", strings.ReplaceAll(err.Error(), "\n", " "))
		os.Exit(1)
	}
}

func run(args []string, out io.Writer) error {
	fs := flag.NewFlagSet("gencerts", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	force := fs.Bool("force", false, "overwrite existing files")
	trustDomain := fs.String("trust-domain", devpki.DefaultTrustDomain, "SPIFFE trust domain of client identities")
	logOrigin := fs.String("log-origin", devpki.DefaultLogOrigin, "checkpoint origin (the log key's name)")
	issue := fs.String("issue", "", "issue one extra client identity with this name")
	party := fs.String("party", "", "party of the --issue identity")
	revoke := fs.String("revoke", "", "revoke the certificate DIR/NAME.crt in its party's CRL")
	witness := fs.String("witness", "", "add the external C2SP witness NAME (then its VKEY) to the dev agreement")
	unsealed := fs.Bool("unsealed", false, "an agreement without sealed_bodies: payloads in plaintext (old behaviour, e.g. for client bench)")
	byDigest := fs.Bool("evidence-by-digest", false, "an agreement without evidence_needs_files: evidence digests alone meet the evidence deadline (old behaviour)")
	noNodeWitnesses := fs.Bool("no-node-witnesses", false, "do not list the mediator nodes tr-node and qa-node as witnesses in the agreement (their keys are made either way)")
	// The default since nodes became witnesses of the dev agreement; kept
	// so that older command lines still work.
	fs.Bool("node-witnesses", true, "list the mediator nodes as witnesses (the default)")

	// Flags may come before or after DIR.
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			return err
		}
		if fs.NArg() == 0 {
			break
		}
		positional = append(positional, fs.Arg(0))
		args = fs.Args()[1:]
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if set["witness"] {
		if len(set) > 1 || len(positional) == 0 || len(positional) > 2 {
			return errors.New("--witness NAME VKEY [DIR] takes no other flag")
		}
		vkey, dir := positional[0], "certs"
		if len(positional) == 2 {
			dir = positional[1]
		}
		if err := devpki.AddWitness(dir, *witness, vkey); err != nil {
			return err
		}
		fmt.Fprintf(out, "added witness %s to %s/agreement.envelope, signed again by every party (delete a server's database begun on the old one)\n", *witness, dir)
		return nil
	}
	dir := "certs"
	switch len(positional) {
	case 0:
	case 1:
		dir = positional[0]
	default:
		return fmt.Errorf("want at most one DIR, got %q", positional)
	}

	if set["revoke"] {
		switch {
		case *revoke == "":
			return errors.New("--revoke needs a NAME")
		case len(set) > 1:
			return errors.New("--revoke NAME takes no other flag")
		}
		r, err := devpki.RevokeCertificate(dir, *revoke, time.Time{})
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "revoked %s (serial %s) at %s: %s, CRL number %s, signed by ca-%s\n", *revoke,
			r.Serial.Text(16), r.At.Format(time.RFC3339), r.File, r.Number, r.Party)
		return nil
	}
	if set["issue"] || set["party"] {
		switch {
		case *issue == "" || *party == "":
			return errors.New("--issue NAME and --party P go together")
		case set["trust-domain"] || set["log-origin"]:
			return errors.New("--trust-domain and --log-origin apply to generating a PKI, not to --issue (the trust domain comes from DIR's agreement)")
		}
		if err := devpki.Issue(dir, *issue, *party, devpki.IssueOptions{Force: *force}); err != nil {
			return err
		}
		fmt.Fprintf(out, "wrote %s/%s.crt, %s.key: client identity of party %s, signed by ca-%s\n", dir, *issue, *issue, *party, *party)
		return nil
	}

	if !*force {
		done, err := keep(dir, set, *trustDomain, *logOrigin, out)
		if done || err != nil {
			return err
		}
	}
	if err := devpki.Generate(devpki.Options{
		Dir:         dir,
		TrustDomain: *trustDomain,
		LogOrigin:   *logOrigin,
		Force:       *force,
		// New dev agreements seal sensitive fields (see README "Sealed
		// bodies"); the parties' keys are written either way.
		SealedBodies: !*unsealed,
		// And their evidence deadlines are met only by stored files
		// (README "Evidence files").
		EvidenceNeedsFiles: !*byDigest,
		NoNodeWitnesses:    *noNodeWitnesses,
	}); err != nil {
		return err
	}
	fmt.Fprintf(out, "wrote the dev PKI into %s (development only; keys are mode 0600, never commit them):\n", dir)
	fmt.Fprintf(out, "  CAs:        ca-pk ca-af ca-tr ca-qa ca-server (.crt/.key)\n")
	fmt.Fprintf(out, "  server:     server.crt/.key (localhost, 127.0.0.1, ::1; signed by ca-server)\n")
	fmt.Fprintf(out, "  clients:    pk-liaison af-interior tr-verifier qa-verifier (.crt/.key; spiffe://%s/party/<party>/<name>)\n", *trustDomain)
	fmt.Fprintf(out, "  log key:    log.key log.vkey (origin %s)\n", *logOrigin)
	fmt.Fprintf(out, "  cosigners:  tr-verifier.cosign.key/.vkey qa-verifier.cosign.key/.vkey\n")
	nodes := "(listed as witnesses tr-node of tr, qa-node of qa)"
	if *noNodeWitnesses {
		nodes = "(not listed as witnesses: --no-node-witnesses)"
	}
	fmt.Fprintf(out, "  nodes:      tr-node qa-node (.crt/.key, .cosign.key/.vkey: server --follow ... --as tr-node) %s\n", nodes)
	fmt.Fprintf(out, "  node TLS:   tr-node-server qa-node-server (.crt/.key; localhost, 127.0.0.1, ::1; signed by ca-server; what each node serves with)\n")
	fmt.Fprintf(out, "  decryption: seal-pk.key seal-af.key seal-tr.key seal-qa.key (one per party; give each party its own only)\n")
	fmt.Fprintf(out, "  agreement:  agreement.envelope agreement.txt (signed by pk, af, tr, qa; sealed bodies: %v; evidence needs files: %v)\n", !*unsealed, !*byDigest)
	return nil
}

// keep decides what to do with a PKI already in dir, instead of generating:
// run a server on a complete and valid one (done, nil), or refuse a broken
// one naming its files. A dir holding none of the PKI's files is not done:
// the caller generates.
func keep(dir string, set map[string]bool, trustDomain, logOrigin string, out io.Writer) (done bool, err error) {
	present, err := devpki.Present(dir)
	if err != nil || len(present) == 0 {
		return false, err
	}
	const regenerate = "use --force to throw it away and generate a new one (then delete the server's database too: its log was built on the old agreement)"
	// A PKI made before the nodes had TLS certificates of their own gets
	// them; nothing else changes, and no log needs to begin again.
	added, err := devpki.AddNodeServers(dir)
	if err != nil {
		return true, err
	}
	for _, name := range added {
		fmt.Fprintf(out, "added %s/%s.crt, %s.key: the node's own TLS server certificate, signed by ca-server\n", dir, name, name)
	}
	if err := devpki.Check(dir, time.Time{}); err != nil {
		return true, fmt.Errorf("%w; %s", err, regenerate)
	}
	// A complete PKI made for another trust domain or log origin is not
	// what the caller asked for.
	raw, err := os.ReadFile(filepath.Join(dir, "agreement.envelope"))
	if err != nil {
		return true, err
	}
	ag, _, err := agreement.FromEnvelope(raw, 0)
	if err != nil {
		return true, err
	}
	if set["trust-domain"] && ag.TrustDomain != trustDomain || set["log-origin"] && ag.LogOrigin != logOrigin {
		return true, fmt.Errorf("%s already holds a PKI for trust domain %s, log origin %s; %s", dir, ag.TrustDomain, ag.LogOrigin, regenerate)
	}
	what := "nothing to do"
	if len(added) > 0 {
		what = "its nodes' TLS certificates added, nothing else changed"
	}
	fmt.Fprintf(out, "%s already holds a complete, valid dev PKI (trust domain %s, log origin %s): %s.\n", dir, ag.TrustDomain, ag.LogOrigin, what)
	fmt.Fprintf(out, "  start a server on it:  go run ./server --certs %s\n", dir)
	fmt.Fprintf(out, "  make a new one:        the same command with --force (then delete the server's database too)\n")
	return true, nil
}
