package devpki

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

var nodes = []struct{ node, party string }{{"tr-node", "tr"}, {"qa-node", "qa"}}

// TestNodeServerCertificates: each mediator node has a TLS certificate of
// its own, issued by ca-server for the loopback names clients dial, for
// server authentication only, with a key no other certificate of the PKI
// has, in files only their owner reads.
func TestNodeServerCertificates(t *testing.T) {
	dir := generate(t)
	roots := x509.NewCertPool()
	roots.AddCert(loadCert(t, dir, "ca-server"))
	// Every certificate of the PKI, by its public key.
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	byKey := map[string][]string{}
	for _, e := range entries {
		if name, ok := strings.CutSuffix(e.Name(), ".crt"); ok {
			spki := string(loadCert(t, dir, name).RawSubjectPublicKeyInfo)
			byKey[spki] = append(byKey[spki], name)
		}
	}
	for _, n := range nodes {
		name := NodeServerName(n.node)
		t.Run(name, func(t *testing.T) {
			kp, err := LoadKeyPair(dir, name)
			if err != nil {
				t.Fatal(err)
			}
			for _, host := range []string{"localhost", "127.0.0.1", "::1"} {
				if _, err := kp.Leaf.Verify(x509.VerifyOptions{DNSName: host, Roots: roots, CurrentTime: now}); err != nil {
					t.Errorf("%s for %s: %v", name, host, err)
				}
			}
			if _, err := kp.Leaf.Verify(x509.VerifyOptions{DNSName: "example.com", Roots: roots, CurrentTime: now}); err == nil {
				t.Errorf("%s verifies for example.com", name)
			}
			if _, err := kp.Leaf.Verify(x509.VerifyOptions{Roots: roots, CurrentTime: now,
				KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err == nil {
				t.Errorf("%s verifies for client authentication: another node's witness endpoint would take it for the primary's", name)
			}
			party := x509.NewCertPool()
			party.AddCert(loadCert(t, dir, "ca-"+n.party))
			if _, err := kp.Leaf.Verify(x509.VerifyOptions{DNSName: "localhost", Roots: party, CurrentTime: now}); err == nil {
				t.Errorf("%s verifies against ca-%s: only ca-server vouches for servers", name, n.party)
			}
			if kp.Leaf.Subject.CommonName != n.node {
				t.Errorf("%s names %q, want %q", name, kp.Leaf.Subject.CommonName, n.node)
			}
			if others := byKey[string(kp.Leaf.RawSubjectPublicKeyInfo)]; !slices.Equal(others, []string{name}) {
				t.Errorf("the key of %s is the key of %q, want its own", name, others)
			}
			for _, f := range []string{name + ".key", n.node + ".key"} {
				fi, err := os.Stat(filepath.Join(dir, f))
				if err != nil || fi.Mode().Perm() != 0o600 {
					t.Errorf("%s: %v, %v; want mode 0600", f, fi.Mode().Perm(), err)
				}
			}
		})
	}
}

// TestNodeServerHandshakes runs real handshakes with the files: a client
// trusting ca-server reaches a node and sees the node's certificate, not
// the primary's; and a server that takes client certificates of ca-server
// (a node's witness endpoint) takes the primary's and refuses a node's.
func TestNodeServerHandshakes(t *testing.T) {
	dir := generate(t)
	serverCA := x509.NewCertPool()
	serverCA.AddCert(loadCert(t, dir, "ca-server"))
	load := func(name string) tls.Certificate {
		kp, err := LoadKeyPair(dir, name)
		if err != nil {
			t.Fatal(err)
		}
		return kp
	}
	node, primary, other := load("tr-node-server"), load("server"), load("qa-node-server")
	for _, test := range []struct {
		name   string
		client tls.Certificate
		ok     bool
	}{
		{"the primary", primary, true},
		{"another node", other, false},
		{"the node itself", node, false},
		{"a party's identity", load("tr-verifier"), false},
	} {
		t.Run(test.name, func(t *testing.T) {
			srv := &tls.Config{Certificates: []tls.Certificate{node}, ClientAuth: tls.RequireAndVerifyClientCert,
				ClientCAs: serverCA, MinVersion: tls.VersionTLS13}
			cli := &tls.Config{Certificates: []tls.Certificate{test.client}, RootCAs: serverCA, ServerName: "127.0.0.1",
				MinVersion: tls.VersionTLS13}
			peer, err := handshake(t, srv, cli)
			if test.ok != (err == nil) {
				t.Fatalf("handshake as %s: %v, want ok = %v", test.name, err, test.ok)
			}
			if err == nil && !peer.Equal(node.Leaf) {
				t.Fatalf("the client saw %q, want the node's certificate", peer.Subject)
			}
		})
	}
}

// handshake runs a TLS 1.3 handshake over a loopback TCP connection and
// returns the server certificate the client saw, or the first error of
// either side.
func handshake(t *testing.T, srvConf, cliConf *tls.Config) (*x509.Certificate, error) {
	t.Helper()
	lis, err := tls.Listen("tcp", "127.0.0.1:0", srvConf)
	if err != nil {
		t.Fatal(err)
	}
	defer lis.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	errc := make(chan error, 1)
	go func() {
		c, err := lis.Accept()
		if err == nil {
			err = c.(*tls.Conn).HandshakeContext(ctx)
			c.Close()
		}
		errc <- err
	}()
	d := tls.Dialer{Config: cliConf}
	c, err := d.DialContext(ctx, "tcp", lis.Addr().String())
	if err != nil {
		return nil, err
	}
	defer c.Close()
	peer := c.(*tls.Conn).ConnectionState().PeerCertificates[0]
	if err := <-errc; err != nil {
		return nil, err
	}
	return peer, nil
}

// TestIssueNodeServer: a rotation writes a new key and certificate that
// still make a valid PKI; names of the PKI's own files are refused.
func TestIssueNodeServer(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "certs")
	if err := Generate(Options{Dir: dir}); err != nil {
		t.Fatal(err)
	}
	before := loadCert(t, dir, "tr-node-server")
	if err := IssueNodeServer(dir, "tr-node"); err != nil {
		t.Fatal(err)
	}
	after := loadCert(t, dir, "tr-node-server")
	if bytes.Equal(before.RawSubjectPublicKeyInfo, after.RawSubjectPublicKeyInfo) || before.SerialNumber.Cmp(after.SerialNumber) == 0 {
		t.Fatal("IssueNodeServer kept the old key or serial")
	}
	if err := Check(dir, time.Time{}); err != nil {
		t.Fatalf("Check after a rotation: %v", err)
	}
	for _, bad := range []string{"", "server", "ca-server", "../x"} {
		if err := IssueNodeServer(dir, bad); err == nil {
			t.Errorf("IssueNodeServer(%q) = nil, want an error", bad)
		}
	}
	if err := Issue(dir, "tr-node-server", "tr", IssueOptions{}); err == nil || !strings.Contains(err.Error(), "reserved") {
		t.Errorf("Issue of a client identity named tr-node-server: %v, want it refused as reserved", err)
	}
}

// TestAddNodeServers: a PKI made before nodes had certificates of their
// own is completed, and nothing else in it changes; a PKI with any other
// problem is left alone.
func TestAddNodeServers(t *testing.T) {
	removeNodeServers := func(t *testing.T, dir string) {
		for _, n := range nodes {
			for _, ext := range []string{".crt", ".key"} {
				if err := os.Remove(filepath.Join(dir, NodeServerName(n.node)+ext)); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	t.Run("old PKI", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "certs")
		if err := Generate(Options{Dir: dir}); err != nil {
			t.Fatal(err)
		}
		agBefore, _ := os.ReadFile(filepath.Join(dir, agreementFile))
		removeNodeServers(t, dir)
		added, err := AddNodeServers(dir)
		if err != nil || !slices.Equal(added, []string{"tr-node-server", "qa-node-server"}) {
			t.Fatalf("AddNodeServers = %q, %v; want both nodes' certificates added", added, err)
		}
		if err := Check(dir, time.Time{}); err != nil {
			t.Fatalf("Check after AddNodeServers: %v", err)
		}
		if agAfter, _ := os.ReadFile(filepath.Join(dir, agreementFile)); !bytes.Equal(agBefore, agAfter) {
			t.Fatal("AddNodeServers changed the agreement")
		}
		if added, err := AddNodeServers(dir); err != nil || len(added) != 0 {
			t.Fatalf("AddNodeServers on a complete PKI = %q, %v; want nothing", added, err)
		}
	})
	t.Run("broken PKI", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "certs")
		if err := Generate(Options{Dir: dir}); err != nil {
			t.Fatal(err)
		}
		removeNodeServers(t, dir)
		if err := os.Remove(filepath.Join(dir, logVKeyFile)); err != nil {
			t.Fatal(err)
		}
		added, err := AddNodeServers(dir)
		if err != nil || len(added) != 0 {
			t.Fatalf("AddNodeServers on a PKI missing log.vkey = %q, %v; want nothing done", added, err)
		}
		if _, err := os.Stat(filepath.Join(dir, "tr-node-server.crt")); err == nil {
			t.Fatal("AddNodeServers wrote into a broken PKI")
		}
	})
}

// primaryKeyNode replaces node's server certificate with one for the
// primary's key (server.key), otherwise as a node's: what Check must
// refuse even though it chains and is for server authentication only.
func primaryKeyNode(node string) func(t *testing.T, dir string) {
	return func(t *testing.T, dir string) {
		ca, err := loadCA(dir, serverCAName)
		if err != nil {
			t.Fatal(err)
		}
		srv, err := LoadKeyPair(dir, serverName)
		if err != nil {
			t.Fatal(err)
		}
		tmpl := nodeServerTemplate(node, now.Add(-time.Hour))
		if tmpl.SerialNumber, err = serial(); err != nil {
			t.Fatal(err)
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, srv.Leaf.PublicKey, ca.key)
		if err != nil {
			t.Fatal(err)
		}
		cert, err := x509.ParseCertificate(der)
		if err != nil {
			t.Fatal(err)
		}
		key, err := os.ReadFile(filepath.Join(dir, "server.key"))
		if err != nil {
			t.Fatal(err)
		}
		name := NodeServerName(node)
		if err := writeAll(dir, []file{{name + ".crt", encodeCert(cert), fileMode}, {name + ".key", key, keyFileMode}}); err != nil {
			t.Fatal(err)
		}
	}
}
