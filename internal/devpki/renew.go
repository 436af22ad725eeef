package devpki

import (
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"net"
	"time"
)

// RenewServer replaces DIR/server.crt and server.key with a new server
// certificate (fresh key and serial, the same names) signed by
// DIR/ca-server, valid from one hour ago for two years: what an operator
// does to rotate the server's certificate, which a running server picks up
// without a restart.
func RenewServer(dir string) error {
	ca, err := loadCA(dir, serverCAName)
	if err != nil {
		return err
	}
	srv, err := newLeaf(ca, serverTemplate(time.Now().Add(-backdate)))
	if err != nil {
		return fmt.Errorf("devpki: server certificate: %w", err)
	}
	files, err := srv.files(serverName)
	if err != nil {
		return err
	}
	// The key first: a reload between the two renames sees a key that does
	// not match the old certificate and keeps the old pair.
	return writeAll(dir, []file{files[1], files[0]})
}

// serverTemplate is the server's TLS certificate: localhost, 127.0.0.1 and
// ::1, server authentication, valid from notBefore for two years.
func serverTemplate(notBefore time.Time) *x509.Certificate {
	return &x509.Certificate{
		Subject:     pkix.Name{CommonName: "localhost", Organization: []string{"MVM dev PKI"}},
		DNSNames:    []string{"localhost"},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
		// ClientAuth too: the primary presents it to the witnesses it
		// pushes to over HTTPS with mutual TLS (mediator nodes).
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		NotBefore:   notBefore,
		NotAfter:    notBefore.AddDate(leafValidity, 0, 0),
	}
}
