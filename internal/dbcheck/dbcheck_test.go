package dbcheck_test

// The offline check against real databases: a testenv server (real TLS,
// real signatures, real bbolt file) writes a log with packages,
// acknowledgements and a mediator's cosignature; each case damages a copy
// of that file through bbolt, as a faulty disk or a careless operator
// would, and the check must name the damaged bucket, and only buckets the
// damage explains.

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/transparency-dev/merkle/compact"
	bolt "go.etcd.io/bbolt"
	"golang.org/x/mod/sumdb/note"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/mvm-exchange/mvm/client/mvmclient"
	"github.com/mvm-exchange/mvm/internal/dbcheck"
	"github.com/mvm-exchange/mvm/internal/entry"
	"github.com/mvm-exchange/mvm/internal/envelope"
	"github.com/mvm-exchange/mvm/internal/ledger"
	"github.com/mvm-exchange/mvm/internal/store"
	"github.com/mvm-exchange/mvm/internal/testenv"
	"github.com/mvm-exchange/mvm/internal/tlog"
	mvmv1 "github.com/mvm-exchange/mvm/proto/mvm/v1"
)

// fixture is a stopped server's database with known contents.
type fixture struct {
	db   string
	size uint64
}

// newFixture writes 10 entries: genesis, 5 packages, 4 acknowledgements,
// in separate batches (one checkpoint each), with a cosignature on the
// checkpoint of size 6.
func newFixture(t *testing.T) *fixture {
	t.Helper()
	env := testenv.New(t)
	ctx := context.Background()
	pk, af, tr := env.Client(testenv.Submitter), env.Client(testenv.Responder), env.Client(testenv.Mediator)
	var ids []string
	for i := range 5 {
		p := &mvmv1.TargetPackage{Header: mvmclient.NewHeader(), Locations: []*mvmv1.Location{{Lat: float64(i), Lon: 2}}, Summary: "site"}
		if _, err := pk.Append(ctx, p); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, p.Header.MessageId)
	}
	cp, err := tr.API.GetCheckpoint(ctx, &mvmv1.GetCheckpointRequest{})
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(env.Certs, "log.vkey"))
	if err != nil {
		t.Fatal(err)
	}
	v, err := note.NewVerifier(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	skey, err := os.ReadFile(filepath.Join(env.Certs, testenv.Mediator+".cosign.key"))
	if err != nil {
		t.Fatal(err)
	}
	line, err := tlog.Cosign(strings.TrimSpace(string(skey)), cp.Checkpoint, v.Name(), v)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tr.API.AddCosignature(ctx, &mvmv1.AddCosignatureRequest{Checkpoint: cp.Checkpoint, SignatureLine: line}); err != nil {
		t.Fatal(err)
	}
	for _, id := range ids[:4] {
		if _, err := af.Append(ctx, &mvmv1.Acknowledgement{Header: mvmclient.NewHeader(), PackageId: id}); err != nil {
			t.Fatal(err)
		}
	}
	f := &fixture{db: env.DB, size: env.Server.Ledger().Head().Size}
	env.Stop()
	if f.size != 10 {
		t.Fatalf("fixture has %d entries, want 10", f.size)
	}
	return f
}

// copyDB copies the fixture's database and applies damage to the copy.
func (f *fixture) copyDB(t *testing.T, damage func(tx *bolt.Tx) error) string {
	t.Helper()
	b, err := os.ReadFile(f.db)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "copy.db")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	if damage == nil {
		return path
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.Update(damage); err != nil {
		t.Fatalf("damaging the copy: %v", err)
	}
	return path
}

func u64(v uint64) []byte { return binary.BigEndian.AppendUint64(nil, v) }

func bucket(tx *bolt.Tx, path ...string) (*bolt.Bucket, error) {
	b := tx.Bucket([]byte(path[0]))
	for _, p := range path[1:] {
		if b == nil {
			break
		}
		b = b.Bucket([]byte(p))
	}
	if b == nil {
		return nil, fmt.Errorf("no bucket %q", path)
	}
	return b, nil
}

// flip flips one bit of the byte at the middle of the value at key.
func flip(key []byte, path ...string) func(tx *bolt.Tx) error {
	return func(tx *bolt.Tx) error {
		b, err := bucket(tx, path...)
		if err != nil {
			return err
		}
		v := b.Get(key)
		if len(v) == 0 {
			return fmt.Errorf("%q: no value at %x", path, key)
		}
		v = bytes.Clone(v)
		v[len(v)/2] ^= 0x01
		return b.Put(key, v)
	}
}

// nthKey returns the n-th key of a bucket (negative: from the end).
func nthKey(tx *bolt.Tx, n int, path ...string) ([]byte, error) {
	b, err := bucket(tx, path...)
	if err != nil {
		return nil, err
	}
	var keys [][]byte
	_ = b.ForEach(func(k, _ []byte) error { keys = append(keys, bytes.Clone(k)); return nil })
	if n < 0 {
		n += len(keys)
	}
	if n < 0 || n >= len(keys) {
		return nil, fmt.Errorf("%q has %d keys, no key %d", path, len(keys), n)
	}
	return keys[n], nil
}

// flipNth flips the middle byte of the value of a bucket's n-th key.
func flipNth(n int, path ...string) func(tx *bolt.Tx) error {
	return func(tx *bolt.Tx) error {
		k, err := nthKey(tx, n, path...)
		if err != nil {
			return err
		}
		return flip(k, path...)(tx)
	}
}

// renameNth moves a bucket's n-th record to a key with one bit flipped
// (for buckets whose records are all key).
func renameNth(n int, path ...string) func(tx *bolt.Tx) error {
	return func(tx *bolt.Tx) error {
		k, err := nthKey(tx, n, path...)
		if err != nil {
			return err
		}
		b, _ := bucket(tx, path...)
		v := bytes.Clone(b.Get(k))
		if err := b.Delete(k); err != nil {
			return err
		}
		nk := bytes.Clone(k)
		nk[0] ^= 0x01
		return b.Put(nk, v)
	}
}

// editEntry rewrites the stored leaf at index i after edit changed its
// fields or its envelope (re-serialized; the signatures are not renewed).
func editEntry(i uint64, edit func(e *mvmv1.Entry, env *mvmv1.Envelope)) func(tx *bolt.Tx) error {
	return func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte(entries))
		e, err := entry.DecodeLeaf(b.Get(u64(i)))
		if err != nil {
			return err
		}
		env, err := envelope.Parse(e.Envelope)
		if err != nil {
			return err
		}
		edit(e, env)
		raw, err := proto.Marshal(env)
		if err != nil {
			return err
		}
		leaf, err := entry.NewLeaf(e.Index, e.ReceivedAt.AsTime(), raw, e.PeerCertificateSha256)
		if err != nil {
			return err
		}
		return b.Put(u64(i), leaf)
	}
}

// replant stores at index i the signed envelope of entry from, as if the
// server had logged it there (its own receive time and signer): every
// signature verifies, only what the log's order means is wrong.
func replant(i, from uint64) func(tx *bolt.Tx) error {
	return func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte(entries))
		at, err := entry.DecodeLeaf(b.Get(u64(i)))
		if err != nil {
			return err
		}
		src, err := entry.DecodeLeaf(b.Get(u64(from)))
		if err != nil {
			return err
		}
		leaf, err := entry.NewLeaf(i, at.ReceivedAt.AsTime(), src.Envelope, src.PeerCertificateSha256)
		if err != nil {
			return err
		}
		return b.Put(u64(i), leaf)
	}
}

func del(key []byte, path ...string) func(tx *bolt.Tx) error {
	return func(tx *bolt.Tx) error {
		b, err := bucket(tx, path...)
		if err != nil {
			return err
		}
		if b.Get(key) == nil {
			return errors.New("nothing to delete")
		}
		return b.Delete(key)
	}
}

func put(key, value []byte, path ...string) func(tx *bolt.Tx) error {
	return func(tx *bolt.Tx) error {
		b, err := bucket(tx, path...)
		if err != nil {
			return err
		}
		return b.Put(key, value)
	}
}

// node is the hashes key of the tree node at (level, index).
func node(level uint, index uint64) []byte { return store.HashKey(compact.NewNodeID(level, index)) }

// nthPackageKey returns the n-th key of packages that is a package state
// key (state) or an entry key (not state).
func nthPackageKey(tx *bolt.Tx, n int, state bool) ([]byte, error) {
	var keys [][]byte
	_ = tx.Bucket([]byte(packages)).ForEach(func(k, _ []byte) error {
		if store.IsStateKey(k) == state {
			keys = append(keys, bytes.Clone(k))
		}
		return nil
	})
	if n >= len(keys) {
		return nil, fmt.Errorf("packages has %d keys of the kind, no key %d", len(keys), n)
	}
	return keys[n], nil
}

const (
	entries  = store.BucketEntries
	hashes   = store.BucketHashes
	cps      = store.BucketCheckpoints
	cosigs   = store.BucketCosignatures
	certs    = store.BucketCerts
	msgids   = store.BucketMsgIDs
	packages = store.BucketPackages
	ags      = store.BucketAgreements
	meta     = store.BucketMeta
	pkglist  = store.BucketPkgList
	pkgdue   = store.BucketPkgDue
)

func delNth(n int, path ...string) func(tx *bolt.Tx) error {
	return func(tx *bolt.Tx) error {
		k, err := nthKey(tx, n, path...)
		if err != nil {
			return err
		}
		return del(k, path...)(tx)
	}
}

func TestCleanDatabase(t *testing.T) {
	f := newFixture(t)
	rep, err := dbcheck.File(f.copyDB(t, nil))
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range rep.Damage {
		t.Errorf("clean database: %s", d)
	}
	// 10 leaves: 10 + 5 + 2 + 1 perfect subtrees.
	want := "10 entries, 18 tree nodes, 10 checkpoints (latest of size 10), 1 cosignatures, 2 certificates, 9 message ids, 9 package index records, 1 agreements"
	if got := rep.Summary(); got != want {
		t.Errorf("summary:\n got %s\nwant %s", got, want)
	}
	var out, errOut bytes.Buffer
	if code := dbcheck.Main(f.db, &out, &errOut); code != 0 || !strings.Contains(out.String(), " OK: "+want) || errOut.Len() > 0 {
		t.Errorf("Main on a clean file: exit %d, stdout %q, stderr %q", code, out.String(), errOut.String())
	}
}

// TestDamage damages one record at a time. want lists the buckets the
// check must report, each with a word of the problem; also lists other
// buckets the damage may be reported in as a consequence (an altered
// entry changes the tree above it and every later checkpoint root).
func TestDamage(t *testing.T) {
	f := newFixture(t)
	type want struct{ bucket, problem string }
	cases := []struct {
		name   string
		damage func(tx *bolt.Tx) error
		want   []want
		also   []string
	}{
		{"entry", flip(u64(3), entries),
			[]want{{entries, ""}, {hashes, "differs from the hash of entry 3"}}, []string{hashes, cps}},
		{"genesis signature", editEntry(0, func(e *mvmv1.Entry, env *mvmv1.Envelope) {
			env.Signatures[1].Sig[0] ^= 1
		}), []want{{entries, "signature 1: signature does not verify"}}, []string{hashes, cps}},
		{"entry signature", editEntry(3, func(e *mvmv1.Entry, env *mvmv1.Envelope) {
			env.Signatures[0].Sig[0] ^= 1
		}), []want{{entries, "signature"}}, []string{hashes, cps}},
		{"receive time backwards", editEntry(5, func(e *mvmv1.Entry, env *mvmv1.Envelope) {
			e.ReceivedAt = timestamppb.New(e.ReceivedAt.AsTime().Add(-time.Hour))
		}), []want{{entries, "ahead of the receive time"}}, []string{hashes, cps}},
		{"message id reused", replant(7, 2),
			[]want{{entries, "message id"}, {entries, "already used at index 2"}}, []string{hashes, cps, msgids, packages}},
		{"workflow", replant(1, 7),
			[]want{{entries, "workflow refuses it"}}, []string{hashes, cps, msgids, packages}},
		{"signer fingerprint", editEntry(4, func(e *mvmv1.Entry, env *mvmv1.Envelope) {
			e.PeerCertificateSha256[0] ^= 1
		}), []want{{entries, "is not stored"}}, []string{hashes, cps, msgids, packages}},
		{"entry index field", func(tx *bolt.Tx) error {
			// Swap two entries: each still decodes and verifies.
			b := tx.Bucket([]byte(entries))
			a, c := bytes.Clone(b.Get(u64(4))), bytes.Clone(b.Get(u64(5)))
			if err := b.Put(u64(4), c); err != nil {
				return err
			}
			return b.Put(u64(5), a)
		}, []want{{entries, "leaf claims index 5"}, {entries, "leaf claims index 4"}}, []string{hashes, cps, msgids, packages}},
		{"missing entry", del(u64(9), entries),
			[]want{{cps, "covers 10 entries; the log has 9"}, {meta, "says 10 entries; the log has 9"}, {msgids, "beyond"}, {packages, "beyond"}}, []string{hashes}},
		{"leaf node", flip(node(0, 2), hashes),
			[]want{{hashes, "differs from the hash of entry 2"}}, nil},
		{"level-2 node", flip(node(2, 1), hashes),
			[]want{{hashes, "differs from the tree recomputed from entries 4..7"}}, nil},
		{"level-3 node", flip(node(3, 0), hashes),
			[]want{{hashes, "entries 0..7"}}, nil},
		{"missing node", del(node(0, 9), hashes),
			[]want{{hashes, "missing"}}, nil},
		{"extra node", put(node(1, 5), make([]byte, 32), hashes),
			[]want{{hashes, "beyond the tree of 10 entries"}}, nil},
		{"stray key", put([]byte("zz"), make([]byte, 32), hashes),
			[]want{{hashes, "not a stored-hash index"}}, nil},
		{"checkpoint", flip(u64(8), cps),
			[]want{{cps, ""}}, nil},
		{"checkpoint root", func(tx *bolt.Tx) error {
			// A validly signed checkpoint of another size stored under 7.
			b := tx.Bucket([]byte(cps))
			return b.Put(u64(7), bytes.Clone(b.Get(u64(8))))
		}, []want{{cps, "the signed checkpoint is of size 8"}}, nil},
		{"latest checkpoint missing", del(u64(10), cps),
			[]want{{cps, "the latest checkpoint is of size 9, the log has 10"}}, nil},
		{"cosignature", flipNth(0, cosigs),
			[]want{{cosigs, ""}}, nil},
		{"cosignature of no checkpoint", func(tx *bolt.Tx) error {
			k, err := nthKey(tx, 0, cosigs)
			if err != nil {
				return err
			}
			b := tx.Bucket([]byte(cosigs))
			return b.Put(append(u64(99), k[8:]...), bytes.Clone(b.Get(k)))
		}, []want{{cosigs, "no checkpoint of size 99"}}, nil},
		{"certificate", flipNth(0, certs),
			[]want{{certs, "SHA-256"}, {entries, "not stored (or is damaged)"}}, nil},
		{"message id index", flipNth(0, msgids),
			[]want{{msgids, "points to"}}, nil},
		{"message id index key", renameNth(2, msgids),
			[]want{{msgids, "missing (entry"}}, []string{msgids}},
		{"package index", func(tx *bolt.Tx) error {
			k, err := nthPackageKey(tx, 0, false)
			if err != nil {
				return err
			}
			b := tx.Bucket([]byte(packages))
			if err := b.Delete(k); err != nil {
				return err
			}
			k[0] ^= 0x01
			return b.Put(k, nil)
		}, []want{{packages, "missing (entry"}, {packages, "belongs to package record"}}, nil},
		{"package index value", func(tx *bolt.Tx) error {
			k, err := nthPackageKey(tx, 1, false)
			if err != nil {
				return err
			}
			return tx.Bucket([]byte(packages)).Put(k, []byte("x"))
		}, []want{{packages, "has a value"}}, nil},
		{"agreement index", del(u64(0), ags),
			[]want{{ags, "missing (entry 0 is an agreement)"}}, nil},
		{"agreement index extra", put(u64(3), nil, ags),
			[]want{{ags, "entry 3 is not an agreement"}}, nil},
		{"meta size", flip([]byte(store.MetaSize), meta),
			[]want{{meta, "entries; the log has 10"}}, nil},
		{"meta agreement", put([]byte(store.MetaAgreement), u64(2), meta),
			[]want{{meta, "points to 2; the agreement in force is entry 0"}}, nil},
		{"package state", func(tx *bolt.Tx) error {
			k, err := nthPackageKey(tx, 0, true)
			if err != nil {
				return err
			}
			return flip(k, packages)(tx)
		}, []want{{packages, "differs from the rebuilt"}}, nil},
		{"package state missing", func(tx *bolt.Tx) error {
			k, err := nthPackageKey(tx, 2, true)
			if err != nil {
				return err
			}
			return del(k, packages)(tx)
		}, []want{{packages, "missing (rebuilding the index writes it)"}}, nil},
		{"package state extra", put(store.StateKey("zz-not-a-package"), []byte{1}, packages),
			[]want{{packages, "not written by rebuilding"}}, nil},
		{"listing key extra", put([]byte("af\x00\x00zz-not-a-package"), nil, pkglist),
			[]want{{pkglist, "not written by rebuilding"}}, nil},
		{"listing key of another status", renameNth(3, pkglist),
			[]want{{pkglist, "missing"}, {pkglist, "not written by rebuilding"}}, nil},
		{"breach key missing", delNth(0, pkgdue),
			[]want{{pkgdue, "missing"}}, nil},
		{"breach record", func(tx *bolt.Tx) error {
			// An open deadline's record (an empty value) made met.
			k, err := nthKey(tx, 1, pkgdue)
			if err != nil {
				return err
			}
			return tx.Bucket([]byte(pkgdue)).Put(k, ledger.DueSuffix(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)))
		}, []want{{pkgdue, "differs from the rebuilt"}}, nil},
		{"package index format", put([]byte(store.MetaPkgIndex), []byte{9}, meta),
			[]want{{meta, "package-state index format"}}, nil},
		{"bucket", func(tx *bolt.Tx) error { return tx.DeleteBucket([]byte(packages)) },
			[]want{{packages, "bucket missing"}}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rep, err := dbcheck.File(f.copyDB(t, tc.damage))
			if err != nil {
				t.Fatal(err)
			}
			if rep.OK() {
				t.Fatal("no damage found")
			}
			for _, w := range tc.want {
				if !rep.Has(w.bucket, w.problem) {
					t.Errorf("want damage in %s mentioning %q", w.bucket, w.problem)
				}
			}
			for _, d := range rep.Damage {
				ok := false
				for _, w := range tc.want {
					ok = ok || strings.HasPrefix(d.Bucket, w.bucket)
				}
				for _, a := range tc.also {
					ok = ok || strings.HasPrefix(d.Bucket, a)
				}
				if !ok {
					t.Errorf("unexpected damage reported: %s", d)
				}
			}
			if t.Failed() {
				for _, d := range rep.Damage {
					t.Logf("reported: %s", d)
				}
			}
			var out bytes.Buffer
			if code := dbcheck.Main(f.copyDB(t, tc.damage), &out, io.Discard); code != 1 || !strings.Contains(out.String(), "DAMAGED") {
				t.Errorf("Main: exit %d, output:\n%s", code, out.String())
			}
		})
	}
}

// TestDamageIsBounded: one altered early entry spoils every checkpoint
// after it; the list stops at MaxPerBucket per bucket and counts the rest.
func TestDamageIsBounded(t *testing.T) {
	f := newFixture(t)
	path := f.copyDB(t, func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte(cps))
		for i := uint64(11); i < 11+2*dbcheck.MaxPerBucket; i++ {
			if err := b.Put(u64(i), []byte("not a checkpoint")); err != nil {
				return err
			}
		}
		return nil
	})
	rep, err := dbcheck.File(path)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, d := range rep.Damage {
		if d.Bucket == cps {
			n++
		}
	}
	if n != dbcheck.MaxPerBucket || rep.Omitted[cps] != dbcheck.MaxPerBucket+1 {
		t.Errorf("%d checkpoint damages listed, %d omitted; want %d and %d", n, rep.Omitted[cps], dbcheck.MaxPerBucket, dbcheck.MaxPerBucket+1)
	}
}

// TestNotADatabase: a file that is not a bbolt database is damaged; one
// that does not exist is an error.
func TestNotADatabase(t *testing.T) {
	path := filepath.Join(t.TempDir(), "junk.db")
	if err := os.WriteFile(path, bytes.Repeat([]byte("junk"), 4096), 0o600); err != nil {
		t.Fatal(err)
	}
	if rep, err := dbcheck.File(path); err != nil || !rep.Has("file", "no valid meta page") {
		t.Errorf("junk file: %v, %+v", err, rep)
	}
	var out, errOut bytes.Buffer
	if code := dbcheck.Main(filepath.Join(t.TempDir(), "absent.db"), &out, &errOut); code != 1 || errOut.Len() == 0 {
		t.Errorf("absent file: exit %d, stderr %q", code, errOut.String())
	}
}

// dump is every bucket, key and value of a database file, in order.
func dump(t *testing.T, path string) string {
	t.Helper()
	db, err := bolt.Open(path, 0o400, &bolt.Options{ReadOnly: true, Timeout: time.Second})
	if err != nil {
		return "unreadable: " + err.Error()
	}
	defer db.Close()
	var b strings.Builder
	var walk func(prefix string, bk *bolt.Bucket) error
	walk = func(prefix string, bk *bolt.Bucket) error {
		return bk.ForEach(func(k, v []byte) error {
			if v == nil {
				return walk(fmt.Sprintf("%s/%x", prefix, k), bk.Bucket(k))
			}
			fmt.Fprintf(&b, "%s %x=%x\n", prefix, k, v)
			return nil
		})
	}
	err = db.View(func(tx *bolt.Tx) error {
		return tx.ForEach(func(name []byte, bk *bolt.Bucket) error { return walk(string(name), bk) })
	})
	if err != nil {
		return "unreadable: " + err.Error()
	}
	return b.String()
}

// TestRandomByteFlips flips random bits anywhere in the file, page
// structure included. bbolt trusts its pages (a bad one can make it
// fault, loop or walk billions of pages), the check must not: it always
// finishes, and when it finds nothing wrong, every bucket, key and value
// is what it was (the flip hit free space).
func TestRandomByteFlips(t *testing.T) {
	f := newFixture(t)
	orig, err := os.ReadFile(f.db)
	if err != nil {
		t.Fatal(err)
	}
	want := dump(t, f.db)
	rng := rand.New(rand.NewPCG(1, 2))
	dir := t.TempDir()
	var clean, damaged, unreadable int
	for i := range 300 {
		b := bytes.Clone(orig)
		var at []int
		for range 1 + i%3 {
			n := rng.IntN(len(b))
			b[n] ^= byte(1 << rng.IntN(8))
			at = append(at, n)
		}
		path := filepath.Join(dir, fmt.Sprintf("flip-%d.db", i))
		if err := os.WriteFile(path, b, 0o600); err != nil {
			t.Fatal(err)
		}
		rep, err := dbcheck.File(path)
		switch {
		case err != nil:
			unreadable++
		case rep.OK():
			clean++
			if got := dump(t, path); got != want {
				t.Errorf("bytes %v flipped: the contents changed, but the check found nothing", at)
			}
		default:
			damaged++
		}
		os.Remove(path)
	}
	t.Logf("%d flips in free space, %d found damaged, %d unreadable", clean, damaged, unreadable)
}

// TestOldLayout: a file from before the hashes bucket (a backup, say) is
// checked in its own layout: clean when it is, damage named by level.
func TestOldLayout(t *testing.T) {
	f := newFixture(t)
	rep, err := dbcheck.File(f.copyDB(t, testenv.OldNodesLayout))
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range rep.Damage {
		t.Errorf("clean file in the old layout: %s", d)
	}
	if !strings.Contains(rep.Summary(), "18 tree nodes") {
		t.Errorf("summary: %s", rep.Summary())
	}
	rep, err = dbcheck.File(f.copyDB(t, func(tx *bolt.Tx) error {
		if err := testenv.OldNodesLayout(tx); err != nil {
			return err
		}
		return flip(u64(1), "nodes", "\x02")(tx)
	}))
	if err != nil {
		t.Fatal(err)
	}
	if !rep.Has("nodes/2", "differs from the tree recomputed from entries 4..7") {
		t.Errorf("damaged level-2 node not reported: %v", rep.Damage)
	}
}

// TestOlderPackageIndexFormat: a package-state index of an older format
// (whose keys this version does not write) is not damage: the next server
// to open the file rebuilds it. A format newer than this version's is.
func TestOlderPackageIndexFormat(t *testing.T) {
	f := newFixture(t)
	older := func(version byte) func(tx *bolt.Tx) error {
		return func(tx *bolt.Tx) error {
			meta := tx.Bucket([]byte(store.BucketMeta))
			v := bytes.Clone(meta.Get([]byte(store.MetaPkgIndex)))
			v[0] = version
			if err := meta.Put([]byte(store.MetaPkgIndex), v); err != nil {
				return err
			}
			// Format 3 kept the states in a bucket of their own.
			old, err := tx.CreateBucketIfNotExists([]byte(store.BucketPkgState))
			if err != nil {
				return err
			}
			if err := old.Put([]byte("p1"), []byte("a format 3 state")); err != nil {
				return err
			}
			return tx.Bucket([]byte(store.BucketPkgList)).Put([]byte("af\x00submitted\x00p1"), nil)
		}
	}
	rep, err := dbcheck.File(f.copyDB(t, older(ledger.PackageIndexVersion-1)))
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range rep.Damage {
		t.Errorf("index of format %d: %s", ledger.PackageIndexVersion-1, d)
	}
	rep, err = dbcheck.File(f.copyDB(t, older(ledger.PackageIndexVersion+1)))
	if err != nil {
		t.Fatal(err)
	}
	if !rep.Has(store.BucketMeta, "package-state index format") {
		t.Errorf("index of a newer format not reported: %v", rep.Damage)
	}
}

// TestExtraPackageState: a state key in packages that rebuilding would not
// write is named alone; the entry keys beside it are not the index's.
func TestExtraPackageState(t *testing.T) {
	f := newFixture(t)
	rep, err := dbcheck.File(f.copyDB(t, put(store.StateKey("zz-not-a-package"), []byte{1}, packages)))
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Damage) != 1 || !rep.Has(packages, "not written by rebuilding") || !strings.Contains(rep.Damage[0].Key, "zz-not-a-package") {
		t.Errorf("want one damage naming the extra state, got %v", rep.Damage)
	}
}
