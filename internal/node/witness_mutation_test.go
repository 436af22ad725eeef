package node_test

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/mvm-exchange/mvm/internal/server"
	"github.com/mvm-exchange/mvm/internal/testenv"
	"github.com/mvm-exchange/mvm/internal/tlog"
	"github.com/mvm-exchange/mvm/internal/witness"
	mvmv1 "github.com/mvm-exchange/mvm/proto/mvm/v1"
)

// The node's witness side asked directly, as a primary would ask it (its
// server certificate, over HTTPS with mutual TLS), with old size 0 so that
// the protocol's own checks pass and only the node's "cosign only what I
// verified" rule (Follower.Verified) decides.

// witnessClient is the primary's side of the node's witness endpoint.
func witnessClient(t *testing.T, certs, addr string) *witness.Client {
	t.Helper()
	return witnessClientAs(t, certs, addr, "server")
}

// witnessClientAs asks the node's witness endpoint with the client
// certificate certs/NAME.crt (the primary's is "server").
func witnessClientAs(t *testing.T, certs, addr, name string) *witness.Client {
	t.Helper()
	read := func(name string) []byte {
		b, err := os.ReadFile(filepath.Join(certs, name))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	cert, err := tls.X509KeyPair(read(name+".crt"), read(name+".key"))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(read("ca-server.crt")) {
		t.Fatal("ca-server.crt holds no certificate")
	}
	hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{
		MinVersion: tls.VersionTLS13, RootCAs: pool, Certificates: []tls.Certificate{cert}}}}
	return &witness.Client{Target: witness.Target{Name: nodeName, URL: "https://" + addr},
		Key: strings.TrimSpace(string(read(nodeName + ".cosign.vkey"))), HTTP: hc}
}

// signCheckpoint signs a checkpoint of size and root with the log key, as
// a lying primary can.
func signCheckpoint(t *testing.T, certs string, size uint64, root []byte) []byte {
	t.Helper()
	skey, err := os.ReadFile(filepath.Join(certs, "log.key"))
	if err != nil {
		t.Fatal(err)
	}
	signer, err := tlog.NewSigner(strings.TrimSpace(string(skey)))
	if err != nil {
		t.Fatal(err)
	}
	cp, err := tlog.SignCheckpoint(signer, signer.Name(), size, root)
	if err != nil {
		t.Fatal(err)
	}
	return cp
}

// nodeCheckpoint is the node's latest checkpoint with the log's signature
// only, and its size and root.
func nodeCheckpoint(t *testing.T, node *testenv.Env) ([]byte, *tlog.Checkpoint) {
	t.Helper()
	resp, err := node.Client(testenv.Mediator).API.GetCheckpoint(ctxT(t), &mvmv1.GetCheckpointRequest{})
	if err != nil {
		t.Fatal(err)
	}
	vkey, err := os.ReadFile(filepath.Join(node.Certs, "log.vkey"))
	if err != nil {
		t.Fatal(err)
	}
	v, err := note.NewVerifier(strings.TrimSpace(string(vkey)))
	if err != nil {
		t.Fatal(err)
	}
	cp, _, err := tlog.OpenCheckpoint(resp.Checkpoint, v.Name(), v)
	if err != nil {
		t.Fatal(err)
	}
	return signCheckpoint(t, node.Certs, cp.Size, cp.Hash), cp
}

// TestNodeWitnessRefusesOtherRoot: a checkpoint signed by the log key at a
// size the node verified, but over another root than the node's, is not
// cosigned (the witness has never cosigned before, so the protocol's
// same-size check does not see it: the node's own root must); the node's
// genuine checkpoint is.
func TestNodeWitnessRefusesOtherRoot(t *testing.T) {
	primary := testenv.New(t)
	submit(t, primary, 2)
	waddr := freeAddr(t)
	node := testenv.NewNode(t, primary, nodeName, func(c *server.Config) {
		c.Node.WitnessListen = waddr
		c.Node.WitnessWait = 300 * time.Millisecond
	})
	caughtUp(t, primary, node)
	genuine, cp := nodeCheckpoint(t, node)
	wc := witnessClient(t, node.Certs, waddr)

	other := bytes.Clone(cp.Hash)
	other[0] ^= 1
	lines, err := wc.AddCheckpoint(ctxT(t), 0, nil, signCheckpoint(t, node.Certs, cp.Size, other))
	if err == nil || !errors.Is(err, witness.ErrStatus) || !strings.Contains(err.Error(), "another root") {
		t.Fatalf("add-checkpoint of size %d over another root: %q, %v; want a refusal: the node verified another root", cp.Size, lines, err)
	}
	lines, err = wc.AddCheckpoint(ctxT(t), 0, nil, genuine)
	if err != nil || len(lines) != 1 {
		t.Fatalf("add-checkpoint of the node's own checkpoint of size %d: %q, %v; want it cosigned", cp.Size, lines, err)
	}
}

// TestNodeWitnessAlarmCosignsNothing: once the node's copy stopped on an
// alarm, it cosigns nothing more, not even a checkpoint it verified whole
// before the failing entry.
func TestNodeWitnessAlarmCosignsNothing(t *testing.T) {
	const bad = 5
	primary := testenv.New(t)
	pk := primary.Client(testenv.Submitter)
	for range 8 {
		mustAppend(t, pk, target(""))
	}
	primary.Stop()
	doctor(t, primary.Certs, primary.DB, bad, false)
	primary.Restart()
	waddr := freeAddr(t)
	node := testenv.NewNode(t, primary, nodeName, func(c *server.Config) {
		c.Node.WitnessListen = waddr
		c.Node.WitnessWait = 300 * time.Millisecond
	})
	st := alarmed(t, node.Client(testenv.Mediator))
	if st.AlarmIndex != bad {
		t.Fatalf("status %v, want an alarm at %d", st, bad)
	}
	verified, cp := nodeCheckpoint(t, node)
	if cp.Size == 0 || cp.Size > bad {
		t.Fatalf("the node's checkpoint has size %d, want one within the %d entries it verified", cp.Size, bad)
	}
	lines, err := witnessClient(t, node.Certs, waddr).AddCheckpoint(ctxT(t), 0, nil, verified)
	if err == nil || !errors.Is(err, witness.ErrStatus) || !strings.Contains(err.Error(), "alarm") {
		t.Fatalf("add-checkpoint of size %d to an alarmed node: %q, %v; want a refusal naming the alarm", cp.Size, lines, err)
	}
}
