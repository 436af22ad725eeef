package node_test

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mvm-exchange/mvm/internal/devpki"
	"github.com/mvm-exchange/mvm/internal/server"
	"github.com/mvm-exchange/mvm/internal/testenv"
	"github.com/mvm-exchange/mvm/internal/tlog"
	"github.com/mvm-exchange/mvm/internal/witness"
	mvmv1 "github.com/mvm-exchange/mvm/proto/mvm/v1"
)

// witnessed is a primary whose agreement lists the node tr-node as a
// C2SP witness (the dev agreement's default), pushing to it over HTTPS, and the node serving it.
type witnessed struct {
	primary, node *testenv.Env
	vkey          string
}

// freeAddr reserves a loopback port for a listener started later.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func newWitnessed(t *testing.T, before func(p *testenv.Env), options ...func(*server.Config)) *witnessed {
	t.Helper()
	// The dev agreement lists the node as a witness of its party, with
	// the key the dev PKI made for it.
	certs := t.TempDir()
	if err := devpki.Generate(devpki.Options{Dir: certs}); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(filepath.Join(certs, nodeName+".cosign.vkey"))
	if err != nil {
		t.Fatal(err)
	}
	vkey := strings.TrimSpace(string(raw))
	waddr := freeAddr(t)
	primary := testenv.Start(t, certs, filepath.Join(t.TempDir(), "mvm.db"), func(c *server.Config) {
		c.Witnesses = []witness.Target{{Name: nodeName, URL: "https://" + waddr}}
		c.WitnessInterval, c.WitnessBackoff, c.WitnessTimeout = 10*time.Millisecond, 20*time.Millisecond, 2*time.Second
		for _, o := range options {
			o(c)
		}
	})
	if before != nil {
		before(primary)
	}
	node := testenv.NewNode(t, primary, nodeName, func(c *server.Config) {
		c.Node.WitnessListen = waddr
		c.Node.WitnessWait = 300 * time.Millisecond
		c.Node.Piece = 2
	})
	return &witnessed{primary: primary, node: node, vkey: vkey}
}

// cosignedBy waits for the primary's latest checkpoint to carry a valid
// cosignature by the node, up to wait; it returns the checkpoint's size
// and whether it does.
func (w *witnessed) cosignedBy(t *testing.T, wait time.Duration) (uint64, bool) {
	t.Helper()
	deadline := time.Now().Add(wait)
	tr := w.primary.Client(testenv.Mediator)
	for {
		resp, err := tr.API.GetCheckpoint(ctxT(t), &mvmv1.GetCheckpointRequest{})
		if err != nil {
			t.Fatal(err)
		}
		for line := range strings.Lines(string(resp.Checkpoint)) {
			if strings.HasPrefix(line, "— "+nodeName+" ") {
				if _, err := tlog.VerifyCosignature(resp.Checkpoint, line, w.vkey); err != nil {
					t.Fatalf("the node's cosignature does not verify: %v", err)
				}
				return size(t, resp.Checkpoint), true
			}
		}
		if time.Now().After(deadline) {
			return size(t, resp.Checkpoint), false
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestNodeWitness: the primary pushes its checkpoints to the node over
// HTTPS with mutual TLS (C2SP tlog-witness), and the node cosigns each
// once it has verified every entry up to it; the primary stores the
// cosignature and it counts under the agreement.
func TestNodeWitness(t *testing.T) {
	w := newWitnessed(t, nil)
	submit(t, w.primary, 3)
	caughtUp(t, w.primary, w.node)
	n, ok := w.cosignedBy(t, 10*time.Second)
	if !ok || n != 7 {
		t.Fatalf("latest checkpoint (size %d) not cosigned by the node", n)
	}
	resp, err := w.primary.Client(testenv.Mediator).API.GetCheckpoint(ctxT(t), &mvmv1.GetCheckpointRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if resp.Cosigners != 1 {
		t.Errorf("the primary counts %d witnesses, want the node's 1", resp.Cosigners)
	}
	submit(t, w.primary, 1) // live
	if n, ok := w.cosignedBy(t, 10*time.Second); !ok || n != 9 {
		t.Errorf("after an append: size %d cosigned %v, want 9 cosigned", n, ok)
	}
}

// TestNodeWitnessOnlyVerified: a node whose copy stopped at a doctored
// entry cosigns no checkpoint beyond it, though the primary's proofs are
// consistent: it cosigns what it verified, not what is merely consistent.
func TestNodeWitnessOnlyVerified(t *testing.T) {
	const bad = 4
	w := newWitnessed(t, func(p *testenv.Env) {
		pk := p.Client(testenv.Submitter)
		for range 6 {
			mustAppend(t, pk, target(""))
		}
		p.Stop()
		doctor(t, p.Certs, p.DB, bad, false)
		p.Restart()
	})
	st := alarmed(t, w.node.Client(testenv.Mediator))
	if st.AlarmIndex != bad {
		t.Fatalf("status %v, want an alarm at %d", st, bad)
	}
	if n, ok := w.cosignedBy(t, 2*time.Second); ok {
		t.Fatalf("the node cosigned size %d beyond the entry %d it could not verify", n, bad)
	}
}
