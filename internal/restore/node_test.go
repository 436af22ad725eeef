package restore_test

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/mvm-exchange/mvm/client/mvmclient"
	"github.com/mvm-exchange/mvm/internal/cli"
	"github.com/mvm-exchange/mvm/internal/server"
	"github.com/mvm-exchange/mvm/internal/testenv"
	mvmv1 "github.com/mvm-exchange/mvm/proto/mvm/v1"
)

// TestRestoreFromNode is the story with a real mediator node: the
// primary's database is deleted, rebuilt from the node (server.Restore,
// what `server --restore-from` runs), and the primary restarted on it
// serves the same checkpoint; a mediator's `client audit --state` saved
// against the lost database passes; new appends work, and the node
// follows the restored primary on.
func TestRestoreFromNode(t *testing.T) {
	primary := testenv.New(t)
	appendSome(t, primary, 4)
	state := filepath.Join(t.TempDir(), "tr.json")
	audit(t, primary, state) // at size 5
	appendSome(t, primary, 2)
	node := testenv.NewNode(t, primary, "tr-node")
	want := checkpoint(t, primary)
	waitCheckpoint(t, node, want)

	primary.Stop()
	if err := os.Remove(primary.DB); err != nil {
		t.Fatal(err)
	}
	rep, err := server.Restore(ctxT(t), server.Config{DB: primary.DB, CertsDir: primary.Certs, Logger: quiet()},
		server.RestoreFrom{Addr: node.Addr, As: testenv.Submitter})
	if err != nil {
		t.Fatalf("restore from the node: %v", err)
	}
	if rep.Size != 7 {
		t.Errorf("restored %d entries, want 7", rep.Size)
	}
	primary.Restart() // same file, same port: the node's primary again
	if got := checkpoint(t, primary); !bytes.Equal(got, want) {
		t.Fatalf("the restored primary serves\n%s\nthe lost one served\n%s", got, want)
	}
	audit(t, primary, state) // consistent from 5 to 7, on the restored tree
	appendSome(t, primary, 2)
	waitCheckpoint(t, node, checkpoint(t, primary))
}

// TestRestoreEveryCheckpointFromNode: a node that copied the log over
// several rounds, each checkpoint cosigned by a mediator's audit, holds
// those checkpoints with their cosignatures; restored from it, the new
// primary holds every one of them, byte for byte, and a mediator's
// `audit --state` saved against the lost primary passes.
func TestRestoreEveryCheckpointFromNode(t *testing.T) {
	primary := testenv.New(t)
	node := testenv.NewNode(t, primary, "tr-node")
	state := filepath.Join(t.TempDir(), "tr.json")
	nodeStore := node.Server.Ledger().Store()
	var cosigned []uint64
	for range 3 {
		appendSome(t, primary, 2)
		waitCheckpoint(t, node, checkpoint(t, primary))
		auditAndCosign(t, primary, state)
		size := primary.Server.Ledger().Head().Size
		cosigned = append(cosigned, size)
		// The node copies the primary's cosignatures onto its
		// checkpoints (its latest few).
		for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(20 * time.Millisecond) {
			if lines, err := nodeStore.Cosignatures(size); err == nil && len(lines) > 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("the node holds no cosignature on its checkpoint of size %d", size)
			}
		}
	}

	primary.Stop()
	if err := os.Remove(primary.DB); err != nil {
		t.Fatal(err)
	}
	want := allCheckpoints(t, nodeStore)
	if len(want) < 4 {
		t.Fatalf("the node holds %d checkpoints; the test needs several", len(want))
	}
	rep, err := server.Restore(ctxT(t), server.Config{DB: primary.DB, CertsDir: primary.Certs, Logger: quiet()},
		server.RestoreFrom{Addr: node.Addr, As: testenv.Mediator})
	if err != nil {
		t.Fatalf("restore from the node: %v", err)
	}
	if rep.Checkpoints != len(want) || rep.Cosignatures < len(cosigned) || rep.Dropped != 0 {
		t.Errorf("restored %d checkpoints, %d cosignatures (%d dropped); want %d, at least %d (0)", rep.Checkpoints, rep.Cosignatures, rep.Dropped, len(want), len(cosigned))
	}
	primary.Restart()
	if got := allCheckpoints(t, primary.Server.Ledger().Store()); !reflect.DeepEqual(got, want) {
		t.Fatalf("the restored primary holds the checkpoints\n%+v\nthe node held\n%+v", got, want)
	}
	audit(t, primary, state)
}

// auditAndCosign runs `client audit --state FILE` as tr-verifier against
// e, which cosigns the checkpoint audited.
func auditAndCosign(t *testing.T, e *testenv.Env, state string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := cli.Run([]string{"--server", e.Addr, "--certs", e.Certs, "--as", testenv.Mediator, "audit", "--state", state}, &out, &errOut)
	if code != 0 || !strings.Contains(out.String(), "cosigned checkpoint size") {
		t.Fatalf("client audit --state (cosigning): exit %d\n%s%s", code, out.String(), errOut.String())
	}
}

func appendSome(t *testing.T, e *testenv.Env, n int) {
	t.Helper()
	c := e.Client(testenv.Submitter)
	for range n {
		if _, err := c.Append(ctxT(t), &mvmv1.TargetPackage{Header: mvmclient.NewHeader(),
			Locations: []*mvmv1.Location{{Lat: 34, Lon: 71, PrecisionM: 50}}, Summary: "a compound",
			Priority: mvmv1.Priority_PRIORITY_HIGH, Tlp: mvmv1.Tlp_TLP_AMBER}); err != nil {
			t.Fatal(err)
		}
	}
}

// audit runs `client audit --state FILE` as tr-verifier against e.
func audit(t *testing.T, e *testenv.Env, state string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := cli.Run([]string{"--server", e.Addr, "--certs", e.Certs, "--as", testenv.Mediator, "audit", "--no-cosign", "--state", state}, &out, &errOut)
	if code != 0 || !strings.Contains(out.String(), "audit: OK") {
		t.Fatalf("client audit --state: exit %d\n%s%s", code, out.String(), errOut.String())
	}
}

// checkpoint is the log-signed checkpoint e serves (without cosignatures).
func checkpoint(t *testing.T, e *testenv.Env) []byte {
	t.Helper()
	c := e.Client(testenv.Mediator)
	defer c.Close() // waitCheckpoint polls: one connection at a time (the per-identity limit)
	r, err := c.API.GetCheckpoint(ctxT(t), &mvmv1.GetCheckpointRequest{})
	if err != nil {
		t.Fatal(err)
	}
	i := bytes.Index(r.Checkpoint, []byte("\n\n"))
	j := bytes.IndexByte(r.Checkpoint[i+2:], '\n')
	return r.Checkpoint[:i+2+j+1]
}

// waitCheckpoint waits until the node serves the checkpoint want.
func waitCheckpoint(t *testing.T, node *testenv.Env, want []byte) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		got := checkpoint(t, node)
		if bytes.Equal(got, want) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the node serves\n%s\nwant\n%s", got, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
