package node_test

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
	"google.golang.org/protobuf/proto"

	"github.com/mvm-exchange/mvm/client/mvmclient"
	"github.com/mvm-exchange/mvm/internal/server"
	"github.com/mvm-exchange/mvm/internal/store"
	"github.com/mvm-exchange/mvm/internal/testenv"
	"github.com/mvm-exchange/mvm/internal/tlog"
	mvmv1 "github.com/mvm-exchange/mvm/proto/mvm/v1"
)

// syncBuffer is a log sink safe for the server's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// doctor rewrites entry index of a stopped server's file: one byte of the
// signed payload changed, the leaf otherwise well formed. The primary
// starts on it (it reads only the tree's edge) and serves it. With resign,
// index must be the last entry: the tree and the latest checkpoint are
// made again over the doctored leaf and signed with the log key, as a
// lying primary would.
func doctor(t *testing.T, certs, db string, index uint64, resign bool) {
	t.Helper()
	st, err := store.Open(db, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	err = st.DB().Update(func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte(store.BucketEntries))
		key := binary.BigEndian.AppendUint64(nil, index)
		var e mvmv1.Entry
		if err := proto.Unmarshal(b.Get(key), &e); err != nil {
			return err
		}
		var env mvmv1.Envelope
		if err := proto.Unmarshal(e.Envelope, &env); err != nil {
			return err
		}
		i := bytes.Index(env.Payload, []byte("suspected safe house"))
		if i < 0 {
			t.Fatalf("entry %d holds no summary to doctor", index)
		}
		env.Payload = bytes.Clone(env.Payload)
		env.Payload[i] = 'S'
		var err error
		if e.Envelope, err = proto.Marshal(&env); err != nil {
			return err
		}
		leaf, err := proto.Marshal(&e)
		if err != nil {
			return err
		}
		if err := b.Put(key, leaf); err != nil || !resign {
			return err
		}
		return resignLast(certs, st, tx, index, leaf)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestTamperedEntry: a primary that serves a doctored entry stops the
// node's copy before it, with the alarm naming the entry in the status,
// an ERROR log line and the metric; the node still serves its verified
// copy, and a restart does not get past the entry either. The entry is
// caught by its signature even when the primary signed a checkpoint over
// it (a lying primary: the tree and its checkpoint agree with the entry).
//
// The copy stops at the last good entry, not at a piece's end nor at the
// last checkpoint before the bad entry: in the mid-piece cases the node
// copies all 9 entries as one piece and the primary holds no checkpoint
// between size 2 and the end, so the entries verified after the
// checkpoint of size 2 are stored without one (proven a prefix of the
// primary's tree first), and read back after a restart.
func TestTamperedEntry(t *testing.T) {
	for _, test := range []struct {
		name   string
		bad    uint64
		resign bool
		piece  uint64
		// signed is the size of the node's latest checkpoint once stopped
		// (0: not checked).
		signed uint64
		// drop removes the primary's checkpoints of sizes [3, 9).
		drop bool
	}{
		{"doctored leaf", 4, false, 2, 0, false},
		{"doctored leaf under a checkpoint signed by the log key", 8, true, 2, 0, false},
		{"doctored leaf in the middle of a piece", 5, false, 1 << 14, 5, false},
		{"doctored leaf in the middle of a piece, no checkpoint before it but the genesis batch's", 5, false, 1 << 14, 2, true},
	} {
		t.Run(test.name, func(t *testing.T) {
			primary := testenv.New(t)
			pk := primary.Client(testenv.Submitter)
			for range 8 {
				mustAppend(t, pk, target("")) // one checkpoint each: sizes 2 … 9
			}
			primary.Stop()
			doctor(t, primary.Certs, primary.DB, test.bad, test.resign)
			if test.drop {
				dropCheckpoints(t, primary.DB, 3, 9)
			}
			primary.Restart()
			tamperedStops(t, primary, test.bad, test.piece, test.signed)
		})
	}
}

// dropCheckpoints deletes the checkpoints of sizes [from, to) from a
// stopped server's file.
func dropCheckpoints(t *testing.T, db string, from, to uint64) {
	t.Helper()
	st, err := store.Open(db, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	err = st.DB().Update(func(tx *bolt.Tx) error {
		for size := from; size < to; size++ {
			if err := tx.Bucket([]byte(store.BucketCheckpoints)).Delete(binary.BigEndian.AppendUint64(nil, size)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func tamperedStops(t *testing.T, primary *testenv.Env, bad, piece, signed uint64) {
	var logs syncBuffer
	node := testenv.NewNode(t, primary, nodeName, func(c *server.Config) {
		c.Node.Piece = piece
		c.Metrics = "127.0.0.1:0"
		c.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	})
	tr := node.Client(testenv.Mediator)
	st := alarmed(t, tr)
	if st.AlarmIndex != bad || !strings.Contains(st.Alarm, "signature") {
		t.Fatalf("status %v: want an alarm at entry %d about its signature", st, bad)
	}
	if code, out := clientStatus(t, node); code != 1 || !strings.Contains(out, fmt.Sprintf("alarm: entry %d: ", bad)) {
		t.Errorf("client status: exit %d, want 1 and the alarm naming entry %d:\n%s", code, bad, out)
	}
	if st.Size != bad || st.VerifiedSize != st.Size {
		t.Errorf("node holds %d entries (verified %d), want the %d before the doctored one", st.Size, st.VerifiedSize, bad)
	}
	if signed != 0 {
		checkpointSize(t, tr, signed)
	}
	if !strings.Contains(logs.String(), "level=ERROR") || !strings.Contains(logs.String(), fmt.Sprintf("index=%d", bad)) {
		t.Errorf("no ERROR line naming index=%d in the node's log:\n%s", bad, logs.String())
	}
	resp, err := http.Get("http://" + node.Server.MetricsAddr() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{fmt.Sprintf("mvm_node_alarm_index %d", bad), "mvm_node_alarms_total 1"} {
		if !strings.Contains(string(body), want) {
			t.Errorf("metrics lack %q", want)
		}
	}
	if got := list(t, tr); uint64(len(got)) != st.Size-1 {
		t.Errorf("node lists %d packages, want the %d verified", len(got), st.Size-1)
	}
	held := st.Size

	node.Restart()
	tr = node.Client(testenv.Mediator)
	st = alarmed(t, tr)
	if st.AlarmIndex != bad || st.Size != held {
		t.Errorf("after a restart: status %v, want the alarm at %d again and %d entries", st, bad, held)
	}
	if got := list(t, tr); uint64(len(got)) != held-1 {
		t.Errorf("after a restart: node lists %d packages, want the %d verified", len(got), held-1)
	}
	if signed != 0 {
		checkpointSize(t, tr, signed)
	}
}

// checkpointSize checks the size of the latest checkpoint c serves.
func checkpointSize(t *testing.T, c *mvmclient.Client, want uint64) {
	t.Helper()
	resp, err := c.API.GetCheckpoint(t.Context(), &mvmv1.GetCheckpointRequest{})
	if err != nil {
		t.Fatalf("GetCheckpoint from the node: %v", err)
	}
	// C2SP tlog-checkpoint: origin, size, root hash.
	lines := strings.SplitN(string(resp.Checkpoint), "\n", 3)
	if len(lines) < 3 || lines[1] != strconv.FormatUint(want, 10) {
		t.Errorf("the node serves the checkpoint %q, want one of size %d (the primary's latest before the doctored entry)", resp.Checkpoint, want)
	}
}

// alarmed waits for the node's alarm.
func alarmed(t *testing.T, c *mvmclient.Client) *mvmv1.GetStatusResponse {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	st := status_(t, c)
	for st.Alarm == "" && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
		st = status_(t, c)
	}
	return st
}

// resignLast makes the tree's nodes for the last leaf again and signs the
// checkpoint of its size with the log key.
func resignLast(certs string, st *store.Store, tx *bolt.Tx, index uint64, leaf []byte) error {
	if k, _ := tx.Bucket([]byte(store.BucketEntries)).Cursor().Last(); binary.BigEndian.Uint64(k) != index {
		return fmt.Errorf("entry %d is not the last", index)
	}
	skey, err := os.ReadFile(filepath.Join(certs, "log.key"))
	if err != nil {
		return err
	}
	signer, err := tlog.NewSigner(strings.TrimSpace(string(skey)))
	if err != nil {
		return err
	}
	tree, err := tlog.NewTree(index, nodeReader{tx})
	if err != nil {
		return err
	}
	hashes := tx.Bucket([]byte(store.BucketHashes))
	err = tree.Append(tlog.LeafHash(leaf), func(id tlog.NodeID, h []byte) {
		if err == nil {
			err = hashes.Put(store.HashKey(id), h)
		}
	})
	if err != nil {
		return err
	}
	root, err := tree.Root()
	if err != nil {
		return err
	}
	cp, err := tlog.SignCheckpoint(signer, signer.Name(), index+1, root)
	if err != nil {
		return err
	}
	return tx.Bucket([]byte(store.BucketCheckpoints)).Put(binary.BigEndian.AppendUint64(nil, index+1), cp)
}

// nodeReader reads tree nodes in the transaction that rewrites them.
type nodeReader struct{ tx *bolt.Tx }

func (r nodeReader) ReadNodes(ids []tlog.NodeID) ([][]byte, error) {
	out := make([][]byte, len(ids))
	for i, id := range ids {
		if out[i] = r.tx.Bucket([]byte(store.BucketHashes)).Get(store.HashKey(id)); out[i] == nil {
			return nil, fmt.Errorf("node %v missing", id)
		}
	}
	return out, nil
}

// TestTamperedEntryPrefixNotInTree: the entries verified before a failing
// one are stored only once the primary proves them a prefix of the tree
// its checkpoint signed. Here the primary's tree and checkpoint are over
// another entry 3 than the one it serves (a lying primary), and entry 5
// fails its signature: entries 2 to 4 verify one by one, but the
// consistency proof from them fails, so the node keeps the 2 entries of
// its first piece only.
func TestTamperedEntryPrefixNotInTree(t *testing.T) {
	primary := testenv.New(t)
	pk := primary.Client(testenv.Submitter)
	for range 8 {
		mustAppend(t, pk, target("")) // sizes 2 … 9
	}
	primary.Stop()
	doctor(t, primary.Certs, primary.DB, 5, false)
	dropCheckpoints(t, primary.DB, 3, 9) // the second piece runs to 9
	forgeTree(t, primary.Certs, primary.DB, 3)
	primary.Restart()

	node := testenv.NewNode(t, primary, nodeName, func(c *server.Config) { c.Node.Piece = 2 })
	st := alarmed(t, node.Client(testenv.Mediator))
	if st.AlarmIndex != 5 || !strings.Contains(st.Alarm, "signature") {
		t.Fatalf("status %v: want an alarm at entry 5 about its signature", st)
	}
	if st.Size != 2 {
		t.Errorf("node holds %d entries, want 2: entries 2-4 are not in the tree the primary signed", st.Size)
	}
}

// forgeTree makes a stopped server's tree nodes and its latest
// checkpoint again, signed with the log key, over its leaves but with
// entry fake's leaf hashed with a byte more: the tree is not of the
// leaves the server serves.
func forgeTree(t *testing.T, certs, db string, fake uint64) {
	t.Helper()
	skey, err := os.ReadFile(filepath.Join(certs, "log.key"))
	if err != nil {
		t.Fatal(err)
	}
	signer, err := tlog.NewSigner(strings.TrimSpace(string(skey)))
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(db, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	err = st.DB().Update(func(tx *bolt.Tx) error {
		tree, err := tlog.NewTree(0, nil)
		if err != nil {
			return err
		}
		hashes := tx.Bucket([]byte(store.BucketHashes))
		c := tx.Bucket([]byte(store.BucketEntries)).Cursor()
		for k, leaf := c.First(); k != nil; k, leaf = c.Next() {
			if binary.BigEndian.Uint64(k) == fake {
				leaf = append(bytes.Clone(leaf), 0)
			}
			err = tree.Append(tlog.LeafHash(leaf), func(id tlog.NodeID, h []byte) {
				if err == nil {
					err = hashes.Put(store.HashKey(id), h)
				}
			})
			if err != nil {
				return err
			}
		}
		root, err := tree.Root()
		if err != nil {
			return err
		}
		cp, err := tlog.SignCheckpoint(signer, signer.Name(), tree.Size(), root)
		if err != nil {
			return err
		}
		return tx.Bucket([]byte(store.BucketCheckpoints)).Put(binary.BigEndian.AppendUint64(nil, tree.Size()), cp)
	})
	if err != nil {
		t.Fatal(err)
	}
}
