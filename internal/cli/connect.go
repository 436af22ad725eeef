package cli

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/mvm-exchange/mvm/client/mvmclient"
	"github.com/mvm-exchange/mvm/internal/identity"
	"github.com/mvm-exchange/mvm/internal/revocation"
)

// gRPC reports every failure to connect as Unavailable with the transport's
// words ("connection error: desc = ... tls: bad certificate"). A user needs
// to know which of three things happened: nothing answers at the address,
// the server refused their certificate (expired? revoked?), or the server's
// certificate did not verify. explain says which, and why, from what the
// client holds: its certificate and the CRLs in --certs.

// certFile is the --as identity's certificate.
func (e *env) certFile() string { return filepath.Join(e.certs, e.as+".crt") }

// dial connects as the --as identity, refusing a certificate that is
// expired or not yet valid before anything is sent.
func (e *env) dial() (*mvmclient.Client, error) {
	return e.dialWith(mvmclient.FromCertsDir(e.server, e.certs, e.as))
}

func (e *env) dialWith(o mvmclient.Options) (*mvmclient.Client, error) {
	c, err := mvmclient.Dial(o)
	if err != nil {
		return nil, err
	}
	if err := validityError(o.CertFile, c.Signer().Certificate, c.ID, time.Now()); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// validityError says why cert is not valid at now, or returns nil.
func validityError(path string, cert *x509.Certificate, id identity.Identity, now time.Time) error {
	switch {
	case now.After(cert.NotAfter):
		return fmt.Errorf("your certificate %s expired on %s; ask party %s's CA for a new one",
			path, stamp(cert.NotAfter), id.Party)
	case now.Before(cert.NotBefore):
		return fmt.Errorf("your certificate %s is not valid until %s (check this machine's clock)",
			path, stamp(cert.NotBefore))
	}
	return nil
}

// explain renders err as the one line the user sees.
func (e *env) explain(err error) string {
	if reason, ok := unreachable(err); ok {
		return fmt.Sprintf("cannot reach %s (%s); is the server running there? (--server, MVM_SERVER)", e.server, reason)
	}
	if msg, ok := e.certRefused(err); ok {
		return msg
	}
	return oneLine(err)
}

// transportDesc is the transport's description inside an Unavailable
// status, or "" for any other error.
func transportDesc(err error) string {
	s, ok := status.FromError(err)
	if !ok || s.Code() != codes.Unavailable {
		return ""
	}
	return s.Message()
}

// unreachable reports whether err means that nothing answered at the
// address, and the short reason (connection refused, no such host, ...).
func unreachable(err error) (string, bool) {
	desc := transportDesc(err)
	if desc == "" || strings.Contains(desc, "tls:") || strings.Contains(desc, "x509:") {
		return "", false
	}
	for _, r := range []string{"connection refused", "no such host", "i/o timeout", "network is unreachable",
		"no route to host", "connection reset by peer", "missing port", "too many colons"} {
		if strings.Contains(desc, r) {
			return r, true
		}
	}
	if strings.Contains(desc, "Error while dialing") {
		_, after, _ := strings.Cut(desc, "Error while dialing: ")
		return strings.TrimSuffix(after, `"`), true
	}
	return "", false
}

// certRefused explains a failed TLS handshake: the server refused the
// client's certificate (expired, revoked by a CRL in --certs, or for a
// reason only the server's log tells), or the server's own certificate did
// not verify against --certs/ca-server.crt.
func (e *env) certRefused(err error) (string, bool) {
	desc := transportDesc(err)
	switch {
	case strings.Contains(desc, "remote error: tls:"):
		_, alert, _ := strings.Cut(desc, "remote error: ")
		alert = strings.TrimSuffix(alert, `"`)
		return e.whyRefused(alert), true
	case strings.Contains(desc, "x509:") || strings.Contains(desc, "tls: failed to verify"):
		_, why, _ := strings.Cut(desc, "x509: ")
		return fmt.Sprintf("the server at %s is not the one --certs trusts: its certificate does not verify against %s (x509: %s)",
			e.server, filepath.Join(e.certs, "ca-server.crt"), strings.TrimSuffix(why, `"`)), true
	}
	return "", false
}

// whyRefused looks at the local certificate for the reason the server gave
// the alert: expired, or listed by its CA's CRL in --certs.
func (e *env) whyRefused(alert string) string {
	path := e.certFile()
	pair, err := tls.LoadX509KeyPair(path, filepath.Join(e.certs, e.as+".key"))
	if err != nil {
		return fmt.Sprintf("the server refused the TLS handshake (%s)", alert)
	}
	cert, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil {
		return fmt.Sprintf("the server refused the TLS handshake (%s)", alert)
	}
	id, _ := identity.Parse(cert)
	if err := validityError(path, cert, id, time.Now()); err != nil {
		return err.Error()
	}
	if r, ok := e.revoked(cert); ok {
		return fmt.Sprintf("your certificate %s was revoked by party %s's CA at %s (%s); use another identity or ask for a new certificate",
			path, r.CRL.Party, stamp(r.At), r.CRL.Source)
	}
	return fmt.Sprintf("the server refused your certificate %s (%s): it may be revoked by a CRL this client does not have; the server's log says why", path, alert)
}

// revoked looks cert up in the CRLs of --certs (crl-*.pem), each verified
// against its party's CA in the pinned agreement.
func (e *env) revoked(cert *x509.Certificate) (revocation.Revocation, bool) {
	ag, _, err := e.pinnedAgreement("")
	if err != nil {
		return revocation.Revocation{}, false
	}
	files, _ := filepath.Glob(filepath.Join(e.certs, "crl-*.pem"))
	var crls []*revocation.CRL
	for _, f := range files {
		if c, err := revocation.LoadFile(ag, f); err == nil {
			crls = append(crls, c)
		}
	}
	return revocation.NewSet(crls...).Lookup(cert)
}
