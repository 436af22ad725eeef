package crashtest

// TestSyncKillNine ("a receipt means on two sites"): the real server binary
// runs with --sync-witnesses 1 and one witness, a node built here from the
// real parts a mediator node has (a witness.Handler on loopback whose
// Allow hook, before it cosigns a checkpoint, fetches the entries up to it
// from the primary, verifies them with the one incremental verifier and
// commits them to its own bbolt file, fsync'd). The node copies late on
// purpose (nodeDelay), so that a receipt released before the copy would
// be caught. The primary is SIGKILLed at random moments under a
// concurrent signed load; after every kill, every envelope that got a
// receipt must be in the node's file, byte for byte, at its index.

import (
	"context"
	"errors"
	"fmt"
	"github.com/mvm-exchange/mvm/internal/testenv"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/mvm-exchange/mvm/client/mvmclient"
	"github.com/mvm-exchange/mvm/internal/devpki"
	"github.com/mvm-exchange/mvm/internal/entry"
	"github.com/mvm-exchange/mvm/internal/store"
	"github.com/mvm-exchange/mvm/internal/tlog"
	"github.com/mvm-exchange/mvm/internal/verify"
	"github.com/mvm-exchange/mvm/internal/witness"
	mvmv1 "github.com/mvm-exchange/mvm/proto/mvm/v1"
)

const (
	syncKills   = 5
	syncWorkers = 16
	nodeDelay   = 20 * time.Millisecond
	nodeName    = "node.test/tr"
)

// copyNode is the node of the test: it cosigns a checkpoint only once it
// has verified and durably stored every entry up to it.
type copyNode struct {
	t      *testing.T
	st     *store.Store
	v      *verify.Verifier
	tree   *tlog.Tree
	client *mvmclient.Client // the primary, at a fixed address
	mu     sync.Mutex
}

// allow is the witness.Handler's Allow hook.
func (n *copyNode) allow(ctx context.Context, cp *tlog.Checkpoint) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	time.Sleep(nodeDelay)
	have := n.tree.Size()
	if cp.Size <= have {
		return nil
	}
	if n.client == nil {
		return fmt.Errorf("%w: not reading the primary yet", witness.ErrNotYet)
	}
	var leaves [][]byte
	if err := n.client.Entries(ctx, have, cp.Size, func(_ uint64, leaf []byte) error {
		leaves = append(leaves, leaf)
		return nil
	}); err != nil {
		return fmt.Errorf("%w: fetching entries %d-%d: %w", witness.ErrNotYet, have, cp.Size, err)
	}
	if err := n.v.Push(leaves...); err != nil {
		n.t.Errorf("the node's verifier refuses the primary's entries: %v", err)
		return err
	}
	if err := n.v.Flush(); err != nil {
		n.t.Errorf("the node's verifier refuses the primary's entries: %v", err)
		return err
	}
	if err := n.v.CheckCheckpoint(cp); err != nil {
		n.t.Errorf("the primary's checkpoint is not its entries' tree: %v", err)
		return err
	}
	b := &store.Batch{First: have, Leaves: leaves, Certs: map[string][]byte{}}
	for _, leaf := range leaves {
		if err := n.tree.Append(tlog.LeafHash(leaf), func(id tlog.NodeID, h []byte) {
			b.Nodes = append(b.Nodes, store.Node{ID: id, Hash: h})
		}); err != nil {
			return err
		}
	}
	return n.st.Commit(b) // one transaction, fsync'd
}

func TestSyncKillNine(t *testing.T) {
	if testing.Short() {
		t.Skip("kill -9 crash test: skipped with -short")
	}
	dir := t.TempDir()
	bin := buildServer(t, dir)
	certs := filepath.Join(dir, "certs")
	if err := devpki.Generate(devpki.Options{Dir: certs}); err != nil {
		t.Fatal(err)
	}
	skey, vkey, err := tlog.GenerateCosignerKey(nodeName)
	if err != nil {
		t.Fatal(err)
	}
	if err := devpki.AddWitness(certs, nodeName, vkey); err != nil {
		t.Fatal(err)
	}
	logVKey, err := os.ReadFile(filepath.Join(certs, "log.vkey"))
	if err != nil {
		t.Fatal(err)
	}
	logKey, err := note.NewVerifier(strings.TrimSpace(string(logVKey)))
	if err != nil {
		t.Fatal(err)
	}
	genesis, err := os.ReadFile(filepath.Join(certs, "agreement.envelope"))
	if err != nil {
		t.Fatal(err)
	}

	// The primary comes back on the same port after each kill.
	addr, err := testenv.FreeAddr()
	if err != nil {
		t.Fatal(err)
	}

	// The node reads the primary as a mediator, over a new connection
	// after each restart (gRPC backs off reconnecting a dead one).
	dialReader := func() *mvmclient.Client {
		o := mvmclient.FromCertsDir(addr, certs, "tr-verifier")
		o.Retries = -1
		c, err := mvmclient.Dial(o)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	var node *copyNode
	st, err := store.Open(filepath.Join(dir, "node.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	v, err := verify.New(verify.Options{Genesis: genesis,
		Certificate: func(sha []byte) ([]byte, error) { return node.client.Certificate(context.Background(), sha) }})
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	tree, _ := tlog.NewTree(0, nil)
	node = &copyNode{t: t, st: st, v: v, tree: tree}
	h := &witness.Handler{Origin: logKey.Name(), LogKey: logKey, Key: skey, Allow: node.allow,
		State: witness.FileState(filepath.Join(dir, "node.state")), Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	wl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	go hs.Serve(wl)
	defer hs.Close()

	logFile, err := os.Create(filepath.Join(dir, "server.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer logFile.Close()
	start := func() (*exec.Cmd, chan struct{}) {
		cmd := exec.Command(bin, "--listen", addr, "--db", filepath.Join(dir, "data", "mvm.db"), "--certs", certs,
			"--log-level", "warn", "--witness", nodeName+"=http://"+wl.Addr().String(),
			"--sync-witnesses", "1", "--sync-timeout", "3s")
		cmd.Stdout, cmd.Stderr = logFile, logFile
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		probe := dialReader()
		deadline := time.Now().Add(serverWait)
		for {
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			_, err := probe.API.GetCheckpoint(ctx, &mvmv1.GetCheckpointRequest{})
			cancel()
			if err == nil {
				reader := dialReader()
				node.mu.Lock()
				node.client = reader
				node.mu.Unlock()
				return cmd, done
			}
			if time.Now().After(deadline) {
				_ = cmd.Process.Kill()
				b, _ := os.ReadFile(logFile.Name())
				t.Fatalf("server does not serve reads after %v: %v\n%s", serverWait, err, b)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}

	type receipted struct {
		env   []byte
		index uint64
	}
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 16))
	total, unavailable := 0, 0
	for round := range syncKills {
		cmd, done := start()
		po := mvmclient.FromCertsDir(addr, certs, submitter)
		po.Retries, po.CallTimeout = -1, callTimeout
		pk, err := mvmclient.Dial(po)
		if err != nil {
			t.Fatal(err)
		}
		var mu sync.Mutex
		var got []receipted
		stop := make(chan struct{})
		var wg sync.WaitGroup
		for range syncWorkers {
			wg.Go(func() {
				for {
					select {
					case <-stop:
						return
					default:
					}
					env, err := pk.Seal(&mvmv1.TargetPackage{Header: mvmclient.NewHeader(),
						Locations: []*mvmv1.Location{{Lat: 34, Lon: 71, PrecisionM: 50}}, Summary: "a compound",
						Priority: mvmv1.Priority_PRIORITY_HIGH, Tlp: mvmv1.Tlp_TLP_AMBER})
					if err != nil {
						t.Error(err)
						return
					}
					resp, err := pk.AppendSealed(context.Background(), env)
					mu.Lock()
					if err == nil {
						got = append(got, receipted{env, resp.Receipt.Index})
					} else if strings.Contains(err.Error(), "not replicated") {
						unavailable++
					}
					mu.Unlock()
					if err != nil {
						select {
						case <-stop:
						case <-time.After(20 * time.Millisecond):
						}
					}
				}
			})
		}
		// The kill lands 200-800 ms after the round's first receipt (at
		// most 30 s on), so that a slow start under load cannot make a
		// round where nothing was released test nothing.
		for wait := time.Now().Add(30 * time.Second); time.Now().Before(wait); time.Sleep(10 * time.Millisecond) {
			mu.Lock()
			n := len(got)
			mu.Unlock()
			if n > 0 {
				break
			}
		}
		time.Sleep(time.Duration(200+rng.IntN(600)) * time.Millisecond)
		_ = cmd.Process.Kill()
		<-done
		close(stop)
		wg.Wait()
		pk.Close()

		// Every receipt is on the node.
		node.mu.Lock()
		for _, r := range got {
			leaf, err := st.Leaf(r.index)
			if errors.Is(err, store.ErrNotFound) {
				t.Errorf("round %d: entry %d had a receipt but is not on the node (node size %d)", round, r.index, node.tree.Size())
				continue
			}
			if err != nil {
				t.Fatal(err)
			}
			e, err := entry.DecodeLeaf(leaf)
			if err != nil || string(e.Envelope) != string(r.env) {
				t.Errorf("round %d: the node's entry %d is not the envelope receipted there (%v)", round, r.index, err)
			}
		}
		t.Logf("round %d: %d receipts, all on the node (node size %d)", round, len(got), node.tree.Size())
		if os.Getenv("SYNC_DEBUG") != "" {
			b, _ := os.ReadFile(logFile.Name())
			t.Logf("%s", b)
		}
		node.mu.Unlock()
		total += len(got)
		if t.Failed() {
			b, _ := os.ReadFile(logFile.Name())
			t.Fatalf("server log:\n%s", b)
		}
	}
	if total == 0 {
		t.Fatal("no append got a receipt: nothing was tested")
	}
	t.Logf("%d receipts over %d kills, each on the node; %d appends answered Unavailable (logged, not replicated in time)", total, syncKills, unavailable)
}
