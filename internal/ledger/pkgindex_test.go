package ledger_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	bolt "go.etcd.io/bbolt"
	"google.golang.org/protobuf/proto"

	"github.com/mvm-exchange/mvm/client/mvmclient"
	"github.com/mvm-exchange/mvm/internal/ledger"
	"github.com/mvm-exchange/mvm/internal/store"
	"github.com/mvm-exchange/mvm/internal/workflow"
	mvmv1 "github.com/mvm-exchange/mvm/proto/mvm/v1"
)

// dumpPackageIndex returns every key and value of the package-state index
// (the state keys of packages, pkglist, pkgdue, and an older format's
// pkgstate bucket if the file has one) and its format marker.
func dumpPackageIndex(t *testing.T, st *store.Store) string {
	t.Helper()
	var b bytes.Buffer
	err := st.DB().View(func(tx *bolt.Tx) error {
		fmt.Fprintf(&b, "format %x\n", tx.Bucket([]byte(store.BucketMeta)).Get([]byte(store.MetaPkgIndex)))
		for _, name := range []string{store.BucketPackages, store.BucketPkgState, store.BucketPkgList, store.BucketPkgDue} {
			bk := tx.Bucket([]byte(name))
			if bk == nil {
				continue
			}
			if err := bk.ForEach(func(k, v []byte) error {
				if name == store.BucketPackages && !store.IsStateKey(k) {
					return nil // an entry key, not the index's
				}
				fmt.Fprintf(&b, "%s %q %x\n", name, k, v)
				return nil
			}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// workload appends, from several goroutines at once (so batches mix
// packages and hold several entries of one), packages through every kind
// of step: acknowledged, asked and answered, reported with and without
// evidence, found, disputed, ruled, withdrawn.
func workload(t *testing.T, f *fixture) []string {
	t.Helper()
	ctx := context.Background()
	var mu sync.Mutex
	var ids []string
	var wg sync.WaitGroup
	for g := range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 5 {
				tp := target()
				id := tp.Header.MessageId
				steps := []struct {
					who string
					m   proto.Message
				}{{"pk-liaison", tp}}
				add := func(who string, m proto.Message) {
					steps = append(steps, struct {
						who string
						m   proto.Message
					}{who, m})
				}
				h := mvmclient.NewHeader
				switch (g + i) % 5 {
				case 0: // stays submitted: its acknowledge deadline open
				case 1:
					add("pk-liaison", &mvmv1.Withdrawal{Header: h(), PackageId: id, Reason: "stale"})
				case 2:
					add("af-interior", &mvmv1.Acknowledgement{Header: h(), PackageId: id})
					add("af-interior", &mvmv1.RequestForInformation{Header: h(), PackageId: id, Question: "q"})
					add("af-interior", &mvmv1.RequestForInformation{Header: h(), PackageId: id, Question: "q2"})
					add("pk-liaison", &mvmv1.InformationResponse{Header: h(), PackageId: id, Answer: "a"})
				case 3:
					add("af-interior", &mvmv1.Acknowledgement{Header: h(), PackageId: id})
					add("af-interior", &mvmv1.ActionReport{Header: h(), PackageId: id, Outcome: mvmv1.Outcome_OUTCOME_RAID_CONDUCTED})
					add("af-interior", &mvmv1.EvidenceSubmission{Header: h(), PackageId: id, EvidenceSha256: [][]byte{bytes.Repeat([]byte{1}, 32)}})
				case 4:
					add("af-interior", &mvmv1.Acknowledgement{Header: h(), PackageId: id})
					add("af-interior", &mvmv1.ActionReport{Header: h(), PackageId: id, Outcome: mvmv1.Outcome_OUTCOME_NOT_FOUND})
					add("tr-verifier", &mvmv1.VerificationFinding{Header: h(), PackageId: id, Verdict: mvmv1.Verdict_VERDICT_CONTRADICTED, Reason: "r"})
					add("af-interior", &mvmv1.Dispute{Header: h(), PackageId: id, Reason: "r"})
					add("tr-verifier", &mvmv1.Ruling{Header: h(), PackageId: id, Decision: "upheld"})
					add("qa-verifier", &mvmv1.Ruling{Header: h(), PackageId: id, Decision: "upheld"})
				}
				for _, s := range steps {
					if _, err := f.l.Append(ctx, f.seal(t, s.who, s.m), f.cert(s.who)); err != nil {
						t.Errorf("append %T to %s: %v", s.m, id, err)
						return
					}
				}
				mu.Lock()
				ids = append(ids, id)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return ids
}

// TestPackageIndexRebuiltEqualsWritten: the index the writer kept up batch
// by batch is, byte for byte, the one rebuilt from the entries, and the one
// built at open for a file that has none (a file of an older server).
func TestPackageIndexRebuiltEqualsWritten(t *testing.T) {
	f := newFixture(t, store.Options{})
	ids := workload(t, f)
	written := dumpPackageIndex(t, f.st)
	if n := bytes.Count([]byte(written), []byte("\npackages ")); n != len(ids) {
		t.Fatalf("%d state records in packages for %d packages, want a state each:\n%s", n, len(ids), written)
	}
	if bytes.Contains([]byte(written), []byte("\npkgstate ")) {
		t.Fatalf("a state in the bucket of index format 3:\n%s", written)
	}
	if !bytes.Contains([]byte(written), []byte("pkgdue ")) {
		t.Fatalf("no breachable deadline indexed:\n%s", written)
	}
	f.close()

	st, err := store.Open(f.db, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := ledger.RebuildIndexes(st); err != nil {
		t.Fatal(err)
	}
	if rebuilt := dumpPackageIndex(t, st); rebuilt != written {
		t.Errorf("rebuilt index differs from the written one:\nrebuilt\n%s\nwritten\n%s", rebuilt, written)
	}
	// A file without the index, as an older server left it.
	err = st.DB().Update(func(tx *bolt.Tx) error {
		for _, name := range []string{store.BucketPkgList, store.BucketPkgDue} {
			if err := tx.DeleteBucket([]byte(name)); err != nil {
				return err
			}
		}
		for _, id := range ids {
			if err := tx.Bucket([]byte(store.BucketPackages)).Delete(store.StateKey(id)); err != nil {
				return err
			}
		}
		return tx.Bucket([]byte(store.BucketMeta)).Delete([]byte(store.MetaPkgIndex))
	})
	if err != nil {
		t.Fatal(err)
	}
	st.Close()
	f.open(t, store.Options{})
	if built := dumpPackageIndex(t, f.st); built != written {
		t.Errorf("index built at open differs from the written one:\nbuilt\n%s\nwritten\n%s", built, written)
	}
	// A file extended by a server that does not keep the index (its size
	// in meta lags the log's) gets it rebuilt at open: a stale record goes.
	f.close()
	st, err = store.Open(f.db, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	err = st.DB().Update(func(tx *bolt.Tx) error {
		meta := tx.Bucket([]byte(store.BucketMeta))
		v := bytes.Clone(meta.Get([]byte(store.MetaPkgIndex)))
		v[len(v)-1]--
		if err := meta.Put([]byte(store.MetaPkgIndex), v); err != nil {
			return err
		}
		return tx.Bucket([]byte(store.BucketPkgList)).Put([]byte("af\x00\x00stale"), nil)
	})
	if err != nil {
		t.Fatal(err)
	}
	st.Close()
	f.open(t, store.Options{})
	if built := dumpPackageIndex(t, f.st); built != written {
		t.Errorf("index rebuilt at open of a lagging file differs from the written one:\nbuilt\n%s\nwritten\n%s", built, written)
	}
	// A file whose index is of an older format (3: the states in a
	// pkgstate bucket of their own, a breach record in its value) gets it
	// rebuilt at open, in this format: its records and bucket go.
	f.close()
	st, err = store.Open(f.db, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	err = st.DB().Update(func(tx *bolt.Tx) error {
		meta := tx.Bucket([]byte(store.BucketMeta))
		v := bytes.Clone(meta.Get([]byte(store.MetaPkgIndex)))
		v[0] = ledger.PackageIndexVersion - 1
		if err := meta.Put([]byte(store.MetaPkgIndex), v); err != nil {
			return err
		}
		old, err := tx.CreateBucket([]byte(store.BucketPkgState))
		if err != nil {
			return err
		}
		pkgs := tx.Bucket([]byte(store.BucketPackages))
		for _, id := range ids {
			if err := old.Put([]byte(id), bytes.Clone(pkgs.Get(store.StateKey(id)))); err != nil {
				return err
			}
			if err := pkgs.Delete(store.StateKey(id)); err != nil {
				return err
			}
		}
		due := tx.Bucket([]byte(store.BucketPkgDue))
		k, _ := due.Cursor().First()
		if err := due.Put(bytes.Clone(k), []byte("\x02p1\x0backnowledge")); err != nil {
			return err
		}
		return tx.Bucket([]byte(store.BucketPkgList)).Put([]byte("af\x00submitted\x00"+ids[0]), nil)
	})
	if err != nil {
		t.Fatal(err)
	}
	st.Close()
	f.open(t, store.Options{})
	if built := dumpPackageIndex(t, f.st); built != written {
		t.Errorf("index rebuilt at open of a file of format %d differs from the written one:\nbuilt\n%s\nwritten\n%s", ledger.PackageIndexVersion-1, built, written)
	}
	// The writer now takes package states from the index (its cache is
	// empty): a second acknowledgement is still refused, a first accepted.
	for _, id := range ids {
		_, err := f.l.Append(context.Background(), f.seal(t, "af-interior", &mvmv1.Acknowledgement{Header: mvmclient.NewHeader(), PackageId: id}), f.cert("af-interior"))
		if err != nil && !errors.Is(err, workflow.ErrAlreadyExists) && !errors.Is(err, workflow.ErrPrecondition) {
			t.Errorf("acknowledge %s after reopening: %v", id, err)
		}
	}
}
