package ledger_test

import (
	"context"
	"encoding/binary"
	"os"
	"path/filepath"
	"strings"
	"testing"

	bolt "go.etcd.io/bbolt"
	"google.golang.org/protobuf/proto"

	"github.com/mvm-exchange/mvm/internal/entry"
	"github.com/mvm-exchange/mvm/internal/envelope"
	"github.com/mvm-exchange/mvm/internal/ledger"
	"github.com/mvm-exchange/mvm/internal/store"
)

// TestRecoverVerifiesAgreements: at start-up the agreements, which decide
// who may append, are verified again as the verifier verifies them; a
// stored genesis whose signature was altered stops the start.
func TestRecoverVerifiesAgreements(t *testing.T) {
	f := newFixture(t, store.Options{})
	if _, err := f.l.Append(context.Background(), f.seal(t, "pk-liaison", target()), f.cert("pk-liaison")); err != nil {
		t.Fatal(err)
	}
	f.close()

	db, err := bolt.Open(f.db, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte(store.BucketEntries))
		key := binary.BigEndian.AppendUint64(nil, 0)
		e, err := entry.DecodeLeaf(b.Get(key))
		if err != nil {
			return err
		}
		env, err := envelope.Parse(e.Envelope)
		if err != nil {
			return err
		}
		env.Signatures[1].Sig[0] ^= 1
		raw, err := proto.Marshal(env)
		if err != nil {
			return err
		}
		leaf, err := entry.NewLeaf(0, e.ReceivedAt.AsTime(), raw, nil)
		if err != nil {
			return err
		}
		return b.Put(key, leaf)
	})
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatal(err)
	}

	st, err := store.Open(f.db, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	genesis, err := os.ReadFile(filepath.Join(f.dir, "agreement.envelope"))
	if err != nil {
		t.Fatal(err)
	}
	l, err := ledger.Open(ledger.Config{Store: st, Signer: f.signer, Genesis: genesis})
	if err == nil {
		l.Close()
		t.Fatal("the ledger started on a genesis whose signature was altered")
	}
	if !strings.Contains(err.Error(), "agreement at 0") {
		t.Errorf("error %q does not name the agreement", err)
	}
}
