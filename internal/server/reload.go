package server

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/mvm-exchange/mvm/internal/revocation"
)

// Reload re-reads the server's certificate and key and the CRL files, and
// puts in force what is valid: new handshakes present the new certificate,
// and the next handshake, call or stream message of every connection, those
// opened before included, is checked against the new CRLs. A certificate
// or CRL file that does not load or verify is reported (logged and
// returned) and the one in force before is kept. SIGHUP and the file
// watcher call it; it is safe for concurrent use.
func (s *Server) Reload() error {
	var errs []error
	if err := s.reloadCertificate(); err != nil {
		errs = append(errs, err)
	}
	errs = append(errs, s.reloadCRLs()...)
	for _, err := range errs {
		s.cfg.Logger.Warn("reload", "err", err)
	}
	leaf := s.cert.Load().Leaf
	set := s.svc.Revocations()
	s.cfg.Logger.Info("reloaded", "certificate_serial", leaf.SerialNumber.Text(16),
		"crls", len(set.CRLs()), "revoked", set.Entries(), "errors", len(errs))
	return errors.Join(errs...)
}

// Certificate returns the server's TLS certificate in force.
func (s *Server) Certificate() *x509.Certificate { return s.cert.Load().Leaf }

func (s *Server) getCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	return s.cert.Load(), nil
}

// nodeServerName is the base name of a node's own TLS certificate and key
// in the certificates directory, e.g. tr-node-server for tr-node (what
// devpki.NodeServerName names and scripts/gen-certs.sh writes).
func nodeServerName(as string) string { return as + "-server" }

// serverCertificate fills in cfg's defaults and loads the server's TLS
// certificate: --tls-cert and --tls-key, else the primary's server.crt,
// or a node's own <as>-server.crt.
func serverCertificate(cfg *Config) (tls.Certificate, error) {
	if (cfg.TLSCert == "") != (cfg.TLSKey == "") {
		return tls.Certificate{}, errors.New("--tls-cert and --tls-key go together: give both, or neither for the default")
	}
	nodeDefault := cfg.Node.Follow != "" && cfg.TLSCert == ""
	cfg.defaults()
	cert, err := loadCertificate(cfg.TLSCert, cfg.TLSKey)
	switch {
	case err != nil && nodeDefault:
		return cert, fmt.Errorf("node %s's TLS certificate: %w (a node serves with a certificate of its own, never the primary's: run scripts/gen-certs.sh, which adds %s.crt/.key to a dev PKI made before nodes had one; or give --tls-cert and --tls-key)",
			cfg.Node.As, err, nodeServerName(cfg.Node.As))
	case err != nil:
		return cert, fmt.Errorf("server certificate: %w (run scripts/gen-certs.sh, or give --tls-cert and --tls-key)", err)
	}
	if cfg.Node.Follow != "" && authenticatesClients(cert.Leaf) {
		cfg.Logger.Warn("node: its TLS certificate authenticates clients too, as the primary's does: "+
			"if it is the primary's, this node's operator can pose as the primary; serve with a certificate of the node's own, for server authentication only",
			"tls_cert", cfg.TLSCert, "subject", cert.Leaf.Subject.String())
	}
	return cert, nil
}

// authenticatesClients: c may serve as a TLS client certificate (a
// certificate without extended key usages may serve for any).
func authenticatesClients(c *x509.Certificate) bool {
	return len(c.ExtKeyUsage) == 0 || slices.ContainsFunc(c.ExtKeyUsage, func(u x509.ExtKeyUsage) bool {
		return u == x509.ExtKeyUsageClientAuth || u == x509.ExtKeyUsageAny
	})
}

// loadCertificate loads a PEM certificate and key, with Leaf set.
func loadCertificate(certFile, keyFile string) (tls.Certificate, error) {
	c, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return c, err
	}
	if c.Leaf == nil {
		if c.Leaf, err = x509.ParseCertificate(c.Certificate[0]); err != nil {
			return c, err
		}
	}
	return c, nil
}

// reloadCertificate puts the certificate and key files in force if they
// load, match and are valid now.
func (s *Server) reloadCertificate() error {
	s.reloadMu.Lock()
	defer s.reloadMu.Unlock()
	c, err := loadCertificate(s.cfg.TLSCert, s.cfg.TLSKey)
	if err != nil {
		return fmt.Errorf("server certificate: %w; keeping the one in force", err)
	}
	if now := time.Now(); now.Before(c.Leaf.NotBefore) || now.After(c.Leaf.NotAfter) {
		return fmt.Errorf("server certificate %s is valid from %s until %s, not now; keeping the one in force", s.cfg.TLSCert,
			c.Leaf.NotBefore.UTC().Format(time.RFC3339), c.Leaf.NotAfter.UTC().Format(time.RFC3339))
	}
	if old := s.cert.Load(); old != nil && bytes.Equal(old.Certificate[0], c.Certificate[0]) {
		return nil
	}
	s.cert.Store(&c)
	s.cfg.Logger.Info("server certificate in force", "serial", c.Leaf.SerialNumber.Text(16),
		"not_after", c.Leaf.NotAfter.UTC().Format(time.RFC3339))
	return nil
}

// crlCandidates are the CRL files to read: Config.CRLs, or
// CertsDir/crl-<party>.pem for each party of the agreement in force
// (whether they exist or not; optional tells).
func (s *Server) crlCandidates() (paths []string, optional bool) {
	if s.cfg.CRLs != nil {
		return s.cfg.CRLs, false
	}
	for _, p := range s.ledger.Head().Agreement.Parties() {
		paths = append(paths, filepath.Join(s.cfg.CertsDir, revocation.FileName(p.ID)))
	}
	return paths, true
}

// reloadCRLs reads every CRL file, verifies it against the agreement in
// force and puts the set in force. For a file that fails, the CRL read from
// it before (if any) stays in force; a lower CRL number than the one in
// force is refused as a rollback. It returns the failures.
func (s *Server) reloadCRLs() []error {
	s.reloadMu.Lock()
	defer s.reloadMu.Unlock()
	ag := s.ledger.Head().Agreement
	paths, optional := s.crlCandidates()
	next := map[string]*revocation.CRL{}
	var list []*revocation.CRL
	var errs []error
	for _, path := range paths {
		if _, dup := next[path]; dup {
			continue
		}
		prev := s.crlFiles[path]
		c, err := revocation.LoadFile(ag, path)
		if optional && errors.Is(err, fs.ErrNotExist) {
			continue // no such CRL (any more)
		}
		if err == nil && prev != nil && c.Number().Cmp(prev.Number()) < 0 {
			err = fmt.Errorf("%s: CRL number %s is lower than the %s in force (a rollback?)", path, c.Number(), prev.Number())
		}
		if err != nil {
			if prev != nil {
				err = fmt.Errorf("%w; keeping the CRL in force (number %s)", err, prev.Number())
				c = prev
			} else {
				c = nil
			}
			errs = append(errs, err)
		}
		if c != nil {
			next[path] = c
			list = append(list, c)
		}
	}
	s.crlFiles = next
	s.svc.SetRevocations(revocation.NewSet(list...))
	return errs
}

// fileStamp is what the watcher compares: a file's size and modification
// time, or its absence.
type fileStamp struct {
	mod   time.Time
	size  int64
	found bool
}

func (s *Server) fileStamps() map[string]fileStamp {
	paths, _ := s.crlCandidates()
	paths = append(paths, s.cfg.TLSCert, s.cfg.TLSKey)
	out := make(map[string]fileStamp, len(paths))
	for _, p := range paths {
		if fi, err := os.Stat(p); err == nil {
			out[p] = fileStamp{fi.ModTime(), fi.Size(), true}
		} else {
			out[p] = fileStamp{}
		}
	}
	return out
}

// watch reloads when the certificate, key or CRL files change, checking
// every interval.
func (s *Server) watch(interval time.Duration, last map[string]fileStamp) {
	defer close(s.watchDone)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-s.watchStop:
			return
		case <-t.C:
		}
		now := s.fileStamps()
		if maps.Equal(now, last) {
			continue
		}
		last = now
		s.cfg.Logger.Info("certificate or CRL files changed, reloading")
		_ = s.Reload() // logged
	}
}
