// Command gencerts writes the development PKI and dev agreement (see package
// devpki), or issues one extra client identity into an existing PKI.
//
//	gencerts [--force] [--trust-domain TD] [--log-origin ORIGIN] [DIR]
//	gencerts --issue NAME --party P [--force] [DIR]
//	gencerts --revoke NAME [DIR]
//
// DIR defaults to "certs". For development and tests only.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/mvm-exchange/mvm/internal/devpki"
)

const usage = `usage:
  gencerts [--force] [--trust-domain TD] [--log-origin ORIGIN] [DIR]
  gencerts --issue NAME --party P [--force] [DIR]
  gencerts --revoke NAME [DIR]

Writes the development PKI and dev agreement into DIR (default "certs"), or
with --issue adds one client identity DIR/NAME.crt/.key signed by
DIR/ca-P, or with --revoke adds DIR/NAME.crt to the CRL of the party CA
that issued it, DIR/crl-P.pem (created if missing, its number incremented
otherwise; revocation time now). Refuses to overwrite existing files unless
--force.
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
	dir := "certs"
	switch len(positional) {
	case 0:
	case 1:
		dir = positional[0]
	default:
		return fmt.Errorf("want at most one DIR, got %q", positional)
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })

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

	if err := devpki.Generate(devpki.Options{
		Dir:         dir,
		TrustDomain: *trustDomain,
		LogOrigin:   *logOrigin,
		Force:       *force,
	}); err != nil {
		return err
	}
	fmt.Fprintf(out, "wrote the dev PKI into %s (development only; keys are mode 0600, never commit them):\n", dir)
	fmt.Fprintf(out, "  CAs:        ca-pk ca-af ca-tr ca-qa ca-server (.crt/.key)\n")
	fmt.Fprintf(out, "  server:     server.crt/.key (localhost, 127.0.0.1, ::1; signed by ca-server)\n")
	fmt.Fprintf(out, "  clients:    pk-liaison af-interior tr-verifier qa-verifier (.crt/.key; spiffe://%s/party/<party>/<name>)\n", *trustDomain)
	fmt.Fprintf(out, "  log key:    log.key log.vkey (origin %s)\n", *logOrigin)
	fmt.Fprintf(out, "  cosigners:  tr-verifier.cosign.key/.vkey qa-verifier.cosign.key/.vkey\n")
	fmt.Fprintf(out, "  agreement:  agreement.envelope agreement.txt (signed by pk, af, tr, qa)\n")
	return nil
}
