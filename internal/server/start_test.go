package server_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/transparency-dev/merkle/compact"
	bolt "go.etcd.io/bbolt"

	"github.com/mvm-exchange/mvm/client/mvmclient"
	"github.com/mvm-exchange/mvm/internal/server"
	"github.com/mvm-exchange/mvm/internal/store"
	"github.com/mvm-exchange/mvm/internal/testenv"
	mvmv1 "github.com/mvm-exchange/mvm/proto/mvm/v1"
)

// TestStartRefusesDamagedLog: a server does not start on a database whose
// stored tree no longer has the root of its latest signed checkpoint, or
// whose latest checkpoint does not cover every entry: it would otherwise
// extend a tree that is not the one it signed.
func TestStartRefusesDamagedLog(t *testing.T) {
	env := testenv.New(t)
	pk := env.Client(testenv.Submitter)
	for i := range 9 {
		p := &mvmv1.TargetPackage{Header: mvmclient.NewHeader(), Locations: []*mvmv1.Location{{Lat: float64(i), Lon: 1}}}
		if _, err := pk.Append(context.Background(), p); err != nil {
			t.Fatal(err)
		}
	}
	env.Stop() // 10 entries: the right edge of the tree is nodes (3, 0) and (1, 4)
	u64 := func(v uint64) []byte { return binary.BigEndian.AppendUint64(nil, v) }
	for _, tc := range []struct {
		name   string
		damage func(tx *bolt.Tx) error
		want   string
	}{
		{"tree node", func(tx *bolt.Tx) error {
			b := tx.Bucket([]byte(store.BucketHashes))
			k := store.HashKey(compact.NewNodeID(3, 0))
			h := bytes.Clone(b.Get(k))
			h[0] ^= 1
			return b.Put(k, h)
		}, "stored checkpoint root differs from the tree's at size 10"},
		{"latest checkpoint", func(tx *bolt.Tx) error {
			return tx.Bucket([]byte(store.BucketCheckpoints)).Delete(u64(10))
		}, "latest checkpoint covers 9 entries, log has 10"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			db := copyFile(t, env.DB)
			b, err := bolt.Open(db, 0o600, &bolt.Options{Timeout: time.Second})
			if err != nil {
				t.Fatal(err)
			}
			err = b.Update(tc.damage)
			b.Close()
			if err != nil {
				t.Fatal(err)
			}
			s, err := server.Start(server.Config{Listen: "127.0.0.1:0", DB: db, CertsDir: env.Certs,
				Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
			if err == nil {
				s.Stop(context.Background())
				t.Fatal("the server started on a damaged log")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q, want it to say %q", err, tc.want)
			}
		})
	}
}

func copyFile(t *testing.T, src string) string {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(t.TempDir(), "copy.db")
	if err := os.WriteFile(dst, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return dst
}
