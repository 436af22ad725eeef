package node_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"io"
	"log/slog"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mvm-exchange/mvm/internal/devpki"
	"github.com/mvm-exchange/mvm/internal/server"
	"github.com/mvm-exchange/mvm/internal/testenv"
	"github.com/mvm-exchange/mvm/internal/witness"
	mvmv1 "github.com/mvm-exchange/mvm/proto/mvm/v1"
)

// A node serves with a TLS certificate of its own, never the primary's:
// its operator does not hold the primary's key, so it cannot pose as the
// primary, to clients or to the other nodes' witness endpoints.

// peerCertificate dials addr over TLS as a client that trusts ca-server
// (presenting certs/NAME.crt) and returns the server certificate it saw.
func peerCertificate(t *testing.T, certs, addr, name string) *x509.Certificate {
	t.Helper()
	cert, err := devpki.LoadKeyPair(certs, name)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(readCert(t, certs, "ca-server"))
	c, err := tls.Dial("tcp", addr, &tls.Config{MinVersion: tls.VersionTLS13, RootCAs: roots,
		Certificates: []tls.Certificate{cert}, NextProtos: []string{"h2"}})
	if err != nil {
		t.Fatalf("TLS to %s: %v", addr, err)
	}
	defer c.Close()
	return c.ConnectionState().PeerCertificates[0]
}

func readCert(t *testing.T, certs, name string) *x509.Certificate {
	t.Helper()
	kp, err := devpki.LoadKeyPair(certs, name)
	if err != nil {
		t.Fatal(err)
	}
	return kp.Leaf
}

// TestNodeServesWithItsOwnCertificate: what a client sees when it reaches
// a node, on its read port and on its witness endpoint, is the node's
// certificate tr-node-server.crt, not the primary's server.crt; clients
// that trust ca-server read from it as from the primary.
func TestNodeServesWithItsOwnCertificate(t *testing.T) {
	primary := testenv.New(t)
	submit(t, primary, 1)
	waddr := freeAddr(t)
	node := testenv.NewNode(t, primary, nodeName, func(c *server.Config) { c.Node.WitnessListen = waddr })
	caughtUp(t, primary, node)
	own, primaryCert := readCert(t, primary.Certs, devpki.NodeServerName(nodeName)), readCert(t, primary.Certs, "server")
	if got := peerCertificate(t, primary.Certs, primary.Addr, testenv.Mediator); !got.Equal(primaryCert) {
		t.Fatalf("the primary serves %q, want server.crt", got.Subject)
	}
	for _, test := range []struct{ what, addr, as string }{
		{"reads", node.Addr, testenv.Mediator},
		{"witness endpoint", waddr, "server"},
	} {
		got := peerCertificate(t, primary.Certs, test.addr, test.as)
		if got.Equal(primaryCert) {
			t.Fatalf("the node's %s serve the primary's certificate server.crt: its operator holds the primary's key", test.what)
		}
		if !got.Equal(own) {
			t.Fatalf("the node's %s serve %q (serial %x), want its own %s.crt", test.what, got.Subject, got.SerialNumber, devpki.NodeServerName(nodeName))
		}
	}
	if !node.Server.Certificate().Equal(own) {
		t.Fatalf("the node's certificate in force is %q, want its own", node.Server.Certificate().Subject)
	}
	// client --server NODE: verified against ca-server as for the primary.
	if _, err := node.Client(testenv.Mediator).API.GetCheckpoint(ctxT(t), &mvmv1.GetCheckpointRequest{}); err != nil {
		t.Fatalf("a client of the node: %v", err)
	}
}

// TestNodeCertificateFlags: without its certificate a node does not start
// (and does not fall back on the primary's), saying what to run; with
// --tls-cert and --tls-key it serves with the files given.
func TestNodeCertificateFlags(t *testing.T) {
	primary := testenv.New(t)
	cfg := server.Config{Listen: "127.0.0.1:0", DB: filepath.Join(t.TempDir(), "node.db"), CertsDir: primary.Certs,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Node:   server.NodeConfig{Follow: primary.Addr, As: "qa-node"}}
	name := devpki.NodeServerName("qa-node")
	for _, ext := range []string{".crt", ".key"} {
		if err := os.Rename(filepath.Join(primary.Certs, name+ext), filepath.Join(primary.Certs, "moved"+ext)); err != nil {
			t.Fatal(err)
		}
	}
	s, err := server.Start(cfg)
	if err == nil {
		s.Stop(context.Background())
		t.Fatal("a node without its TLS certificate started")
	}
	for _, want := range []string{name + ".crt", "scripts/gen-certs.sh", "--tls-cert"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	cfg.TLSCert = filepath.Join(primary.Certs, "moved.crt")
	if _, err := server.Start(cfg); err == nil || !strings.Contains(err.Error(), "--tls-cert and --tls-key go together") {
		t.Fatalf("--tls-cert alone: %v, want a refusal", err)
	}
	cfg.TLSKey = filepath.Join(primary.Certs, "moved.key")
	node := testenv.Start(t, primary.Certs, cfg.DB, func(c *server.Config) { c.Node, c.TLSCert, c.TLSKey = cfg.Node, cfg.TLSCert, cfg.TLSKey })
	if got, want := peerCertificate(t, primary.Certs, node.Addr, testenv.Mediator2), readCert(t, primary.Certs, "moved"); !got.Equal(want) {
		t.Fatalf("the node serves %q, want the --tls-cert file", got.Subject)
	}
	node.Stop()
	// Given the primary's certificate, a node serves (the operator chose
	// so) and warns that it can pass for the primary.
	var log syncBuffer
	testenv.Start(t, primary.Certs, cfg.DB, func(c *server.Config) {
		c.Node, c.Logger = cfg.Node, slog.New(slog.NewTextHandler(&log, nil))
		c.TLSCert, c.TLSKey = filepath.Join(primary.Certs, "server.crt"), filepath.Join(primary.Certs, "server.key")
	}).Stop()
	if !strings.Contains(log.String(), `level=WARN msg="node: its TLS certificate authenticates clients too`) {
		t.Fatalf("a node serving with the primary's certificate logged no warning:\n%s", log.String())
	}
}

// TestNodeWitnessTakesOnlyThePrimary: the node's witness endpoint cosigns
// for the primary's certificate, and refuses at the handshake another
// node's, its own, a party's, the node's own follower identity, and a
// certificate of ca-server for client authentication that does not name
// the host the node follows.
func TestNodeWitnessTakesOnlyThePrimary(t *testing.T) {
	primary := testenv.New(t)
	submit(t, primary, 1)
	waddr := freeAddr(t)
	var log syncBuffer
	node := testenv.NewNode(t, primary, nodeName, func(c *server.Config) {
		c.Node.WitnessListen = waddr
		c.Node.WitnessWait = 300 * time.Millisecond
		c.Logger = slog.New(slog.NewTextHandler(&log, nil))
	})
	caughtUp(t, primary, node)
	genuine, _ := nodeCheckpoint(t, node)
	issueServerCAClient(t, primary.Certs, "elsewhere", "elsewhere.example")
	for _, test := range []struct {
		name, as string
		ok       bool
	}{
		{"the primary", "server", true},
		{"another node", "qa-node-server", false},
		{"the node itself", devpki.NodeServerName(nodeName), false},
		{"the node's follower identity", nodeName, false},
		{"a mediator", testenv.Mediator, false},
		{"ca-server, another host", "elsewhere", false},
	} {
		t.Run(test.name, func(t *testing.T) {
			lines, err := witnessClientAs(t, primary.Certs, waddr, test.as).AddCheckpoint(ctxT(t), 0, nil, genuine)
			if test.ok {
				if err != nil || len(lines) != 1 {
					t.Fatalf("add-checkpoint as %s: %q, %v; want it cosigned", test.as, lines, err)
				}
				return
			}
			if err == nil || errors.Is(err, witness.ErrStatus) || !strings.Contains(err.Error(), "tls") {
				t.Fatalf("add-checkpoint as %s: %q, %v; want the handshake refused", test.as, lines, err)
			}
		})
	}
	for _, want := range []string{
		// The certificate of another node: not for client authentication.
		`level=WARN msg="http: TLS handshake error from 127.0.0.1:`,
		"x509: certificate specifies an incompatible key usage",
		// A party's: not of the server CA, which the endpoint names as
		// the one it takes, so the client sends none.
		"tls: client didn't provide a certificate",
	} {
		if !strings.Contains(log.String(), want) {
			t.Errorf("the node's log lacks %q:\n%s", want, log.String())
		}
	}
	if want := `level=WARN msg="node: witness endpoint refused a client that is not the primary it follows" subject="CN=elsewhere.example"`; !strings.Contains(log.String(), want) {
		t.Errorf("the node's log lacks %q:\n%s", want, log.String())
	}
}

// issueServerCAClient writes certs/NAME.crt/.key: a certificate of
// ca-server for client and server authentication, like the primary's but
// for host.
func issueServerCAClient(t *testing.T, certs, name, host string) {
	t.Helper()
	ca, err := devpki.LoadKeyPair(certs, "ca-server")
	if err != nil {
		t.Fatal(err)
	}
	pub, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: host},
		DNSNames: []string{host}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Leaf, pub, ca.PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	pkcs8, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	for file, data := range map[string][]byte{
		name + ".crt": pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		name + ".key": pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pkcs8}),
	} {
		if err := os.WriteFile(filepath.Join(certs, file), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
}
