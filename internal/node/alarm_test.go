package node_test

import (
	"bytes"
	"encoding/binary"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
	"google.golang.org/protobuf/proto"

	"github.com/mvm-exchange/mvm/internal/server"
	"github.com/mvm-exchange/mvm/internal/store"
	"github.com/mvm-exchange/mvm/internal/testenv"
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
// starts on it (it reads only the tree's edge) and serves it.
func doctor(t *testing.T, db string, index uint64) {
	t.Helper()
	bdb, err := bolt.Open(db, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer bdb.Close()
	err = bdb.Update(func(tx *bolt.Tx) error {
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
		return b.Put(key, leaf)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestTamperedEntry: a primary that serves a doctored entry stops the
// node's copy before it, with the alarm naming the entry in the status,
// an ERROR log line and the metric; the node still serves its verified
// copy, and a restart does not get past the entry either.
func TestTamperedEntry(t *testing.T) {
	primary := testenv.New(t)
	pk := primary.Client(testenv.Submitter)
	for range 6 {
		mustAppend(t, pk, target("")) // one checkpoint each: sizes 2 … 7
	}
	primary.Stop()
	const bad = 4
	doctor(t, primary.DB, bad)
	primary.Restart()

	var logs syncBuffer
	node := testenv.NewNode(t, primary, nodeName, func(c *server.Config) {
		c.Node.Piece = 2
		c.Metrics = "127.0.0.1:0"
		c.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	})
	tr := node.Client(testenv.Mediator)
	deadline := time.Now().Add(20 * time.Second)
	st := status_(t, tr)
	for st.Alarm == "" && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
		st = status_(t, tr)
	}
	if st.AlarmIndex != bad || !strings.Contains(st.Alarm, "signature") {
		t.Fatalf("status %v: want an alarm at entry %d about its signature", st, bad)
	}
	if st.Size != bad || st.VerifiedSize != bad {
		t.Errorf("node holds %d entries (verified %d), want the %d before the doctored one", st.Size, st.VerifiedSize, bad)
	}
	if !strings.Contains(logs.String(), "level=ERROR") || !strings.Contains(logs.String(), "index=4") {
		t.Errorf("no ERROR line naming index=4 in the node's log:\n%s", logs.String())
	}
	resp, err := http.Get("http://" + node.Server.MetricsAddr() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{"mvm_node_alarm_index 4", "mvm_node_alarms_total 1"} {
		if !strings.Contains(string(body), want) {
			t.Errorf("metrics lack %q", want)
		}
	}
	if got := list(t, tr); len(got) != bad-1 {
		t.Errorf("node lists %d packages, want the %d verified", len(got), bad-1)
	}

	node.Restart()
	time.Sleep(300 * time.Millisecond)
	st = status_(t, node.Client(testenv.Mediator))
	for st.Alarm == "" && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
		st = status_(t, node.Client(testenv.Mediator))
	}
	if st.AlarmIndex != bad || st.Size != bad {
		t.Errorf("after a restart: status %v, want the alarm at %d again and %d entries", st, bad, bad)
	}
}
