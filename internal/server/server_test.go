package server_test

// Reloading without a restart: the server's own certificate and the
// parties' CRLs, on Reload (what SIGHUP does) and when the files change.
// Real PKI (devpki), real TLS on loopback (testenv), real bbolt.

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"io"
	"log/slog"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	"github.com/mvm-exchange/mvm/internal/devpki"
	"github.com/mvm-exchange/mvm/internal/server"
	"github.com/mvm-exchange/mvm/internal/testenv"
	mvmv1 "github.com/mvm-exchange/mvm/proto/mvm/v1"
)

func ctxT(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// noWatch leaves reloading to the test.
func noWatch(c *server.Config) { c.ReloadInterval = -1 }

// call makes one call as name on a new connection; nil if it succeeded.
func call(t *testing.T, e *testenv.Env, name string) error {
	t.Helper()
	_, err := e.Client(name).API.GetCheckpoint(ctxT(t), &mvmv1.GetCheckpointRequest{})
	return err
}

func wantRefused(t *testing.T, e *testenv.Env, name string) {
	t.Helper()
	if err := call(t, e, name); status.Code(err) != codes.Unavailable || !strings.Contains(err.Error(), "bad certificate") {
		t.Fatalf("%s on a new connection: got %v, want refused at the handshake (bad certificate)", name, err)
	}
}

func wantAccepted(t *testing.T, e *testenv.Env, name string) {
	t.Helper()
	if err := call(t, e, name); err != nil {
		t.Fatalf("%s on a new connection: %v", name, err)
	}
}

func issue(t *testing.T, dir string, names ...string) {
	t.Helper()
	for _, n := range names {
		if err := devpki.Issue(dir, n, "pk", devpki.IssueOptions{}); err != nil {
			t.Fatal(err)
		}
	}
}

func revoke(t *testing.T, dir, name string) {
	t.Helper()
	if err := devpki.Revoke(dir, name, time.Time{}); err != nil {
		t.Fatal(err)
	}
}

func TestReloadCRLs(t *testing.T) {
	e := testenv.New(t, noWatch)
	issue(t, e.Certs, "pk-second", "pk-third")
	wantAccepted(t, e, "pk-second")

	// Revoked, and the default CRL file appears: a reload puts it in force.
	revoke(t, e.Certs, "pk-second")
	wantAccepted(t, e, "pk-second") // not reloaded yet
	if err := e.Server.Reload(); err != nil {
		t.Fatalf("Reload: %v", err)
	}
	wantRefused(t, e, "pk-second")
	wantAccepted(t, e, "pk-third")
	wantAccepted(t, e, testenv.Submitter)

	crl := filepath.Join(e.Certs, "crl-pk.pem")
	first, err := os.ReadFile(crl)
	if err != nil {
		t.Fatal(err)
	}
	revoke(t, e.Certs, "pk-third") // CRL number 2
	if err := e.Server.Reload(); err != nil {
		t.Fatalf("Reload: %v", err)
	}
	wantRefused(t, e, "pk-third")

	// A broken file, a CRL of the wrong party and an older CRL (a
	// rollback) are each reported, and the CRL in force stays.
	for _, tc := range []struct {
		name string
		data []byte
		want string
	}{
		{"garbage", []byte("garbage"), "invalid CRL"},
		{"af's CRL as pk's", afCRL(t, e.Certs), "claims party pk but is issued by party af's CA"},
		{"rollback", first, "CRL number 1 is lower than the 2 in force"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := os.WriteFile(crl, tc.data, 0o644); err != nil {
				t.Fatal(err)
			}
			err := e.Server.Reload()
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "keeping the CRL in force") {
				t.Fatalf("Reload: got %v, want %q and the CRL kept", err, tc.want)
			}
			wantRefused(t, e, "pk-second")
			wantRefused(t, e, "pk-third")
		})
	}

	// Deleting the default CRL file withdraws it at the next reload.
	if err := os.Remove(crl); err != nil {
		t.Fatal(err)
	}
	if err := e.Server.Reload(); err != nil {
		t.Fatalf("Reload: %v", err)
	}
	wantAccepted(t, e, "pk-second")
}

// afCRL is a valid CRL of party af (revoking nothing).
func afCRL(t *testing.T, dir string) []byte {
	t.Helper()
	ca, err := devpki.LoadKeyPair(dir, "ca-af")
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.CreateRevocationList(rand.Reader, &x509.RevocationList{Number: big.NewInt(9),
		ThisUpdate: time.Now(), NextUpdate: time.Now().Add(time.Hour)}, ca.Leaf, ca.PrivateKey.(ed25519.PrivateKey))
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "X509 CRL", Bytes: der})
}

// The watcher reloads when a CRL file changes, without Reload or SIGHUP,
// and the revocation reaches a connection opened before it.
func TestWatchReloadsCRLs(t *testing.T) {
	e := testenv.New(t, func(c *server.Config) { c.ReloadInterval = 20 * time.Millisecond })
	issue(t, e.Certs, "pk-second")
	c := e.Client("pk-second")
	if _, err := c.API.GetCheckpoint(ctxT(t), &mvmv1.GetCheckpointRequest{}); err != nil {
		t.Fatal(err)
	}
	revoke(t, e.Certs, "pk-second")
	deadline := time.Now().Add(5 * time.Second)
	for {
		_, err := c.API.GetCheckpoint(ctxT(t), &mvmv1.GetCheckpointRequest{})
		if status.Code(err) == codes.Unauthenticated && strings.Contains(err.Error(), "revoked") {
			break
		}
		if err != nil || time.Now().After(deadline) {
			t.Fatalf("open connection after the revocation: got %v, want Unauthenticated (revoked) soon", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	wantRefused(t, e, "pk-second")
}

// Start refuses an invalid CRL, and a CRL file named in the configuration
// that does not exist.
func TestStartRefusesBadCRLs(t *testing.T) {
	certs := t.TempDir()
	if err := devpki.Generate(devpki.Options{Dir: certs}); err != nil {
		t.Fatal(err)
	}
	start := func(cfg server.Config) error {
		cfg.Listen, cfg.CertsDir, cfg.DB = "127.0.0.1:0", certs, filepath.Join(t.TempDir(), "mvm.db")
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
		s, err := server.Start(cfg)
		if err == nil {
			s.Stop(context.Background())
		}
		return err
	}
	if err := start(server.Config{CRLs: []string{filepath.Join(certs, "nope.pem")}}); err == nil || !strings.Contains(err.Error(), "nope.pem") {
		t.Errorf("missing --crl file: got %v", err)
	}
	other := filepath.Join(t.TempDir(), "crl-pk.pem")
	if err := os.WriteFile(other, afCRL(t, certs), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := start(server.Config{CRLs: []string{other}}); err == nil || !strings.Contains(err.Error(), "claims party pk") {
		t.Errorf("af's CRL named crl-pk.pem: got %v", err)
	}
	if err := os.WriteFile(filepath.Join(certs, "crl-qa.pem"), []byte("garbage"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := start(server.Config{}); err == nil || !strings.Contains(err.Error(), "crl-qa.pem") {
		t.Errorf("invalid default CRL file: got %v", err)
	}
	// Explicit files replace the defaults: af's CRL under another name is
	// fine, and the broken crl-qa.pem is not read.
	if err := os.Rename(other, filepath.Join(filepath.Dir(other), "af.crl")); err != nil {
		t.Fatal(err)
	}
	if err := start(server.Config{CRLs: []string{filepath.Join(filepath.Dir(other), "af.crl")}}); err != nil {
		t.Errorf("af's CRL as af.crl: %v", err)
	}
}

// The server's certificate is replaced without a restart: after a reload
// new connections see the new serial number; a certificate that does not
// load is reported and the old one kept.
func TestReloadServerCertificate(t *testing.T) {
	e := testenv.New(t, noWatch)
	old := serverSerial(t, e)
	if err := devpki.RenewServer(e.Certs); err != nil {
		t.Fatal(err)
	}
	if got := serverSerial(t, e); got.Cmp(old) != 0 {
		t.Fatalf("before the reload: serial %x, want the old %x", got, old)
	}
	if err := e.Server.Reload(); err != nil {
		t.Fatalf("Reload: %v", err)
	}
	renewed := serverSerial(t, e)
	if renewed.Cmp(old) == 0 || renewed.Cmp(e.Server.Certificate().SerialNumber) != 0 {
		t.Fatalf("after the reload: serial %x, want the new %x (old %x)", renewed, e.Server.Certificate().SerialNumber, old)
	}

	// A key that does not match the certificate.
	key := filepath.Join(e.Certs, "server.key")
	saved, err := os.ReadFile(key)
	if err != nil {
		t.Fatal(err)
	}
	other, err := os.ReadFile(filepath.Join(e.Certs, "pk-liaison.key"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(key, other, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := e.Server.Reload(); err == nil || !strings.Contains(err.Error(), "keeping the one in force") {
		t.Fatalf("Reload with a mismatched key: got %v", err)
	}
	if got := serverSerial(t, e); got.Cmp(renewed) != 0 {
		t.Fatalf("after a failed reload: serial %x, want %x", got, renewed)
	}
	if err := os.WriteFile(key, saved, 0o600); err != nil {
		t.Fatal(err)
	}
}

// serverSerial connects anew and returns the serial number of the
// certificate the server presented.
func serverSerial(t *testing.T, e *testenv.Env) *big.Int {
	t.Helper()
	var p peer.Peer
	if _, err := e.Client(testenv.Mediator).API.GetCheckpoint(ctxT(t), &mvmv1.GetCheckpointRequest{}, grpc.Peer(&p)); err != nil {
		t.Fatal(err)
	}
	ti, ok := p.AuthInfo.(credentials.TLSInfo)
	if !ok || len(ti.State.PeerCertificates) == 0 {
		t.Fatalf("no server certificate in %T", p.AuthInfo)
	}
	return ti.State.PeerCertificates[0].SerialNumber
}
