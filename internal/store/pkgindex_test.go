package store_test

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	bolt "go.etcd.io/bbolt"

	"github.com/mvm-exchange/mvm/internal/store"
)

// TestPackageStatesBesideEntries: a package's indexed state is kept in
// packages under id ‖ 0, which every reader of the entry keys skips; a
// state operation cannot touch an entry key; rebuilding the package-state
// index drops stale states and an older format's pkgstate bucket; and
// rebuilding the other indexes, which drops packages with the states in
// it, marks the package-state index absent in the same transaction, so an
// interrupted rebuild is finished by the next open.
func TestPackageStatesBesideEntries(t *testing.T) {
	s, _ := newStore(t)
	b := batch(0, 3, "a")
	zero := uint64(0)
	b.Agreement = &zero
	b.Packages = append(b.Packages[:2], store.PackageKey("ab", 2))
	b.PackageIndex = []store.IndexOp{
		{Bucket: store.PkgState, Key: store.StateKey("a"), Value: []byte("state a")},
		{Bucket: store.PkgState, Key: store.StateKey("ab"), Value: []byte("state ab")},
		{Bucket: store.PkgList, Key: []byte("pk\x00af\x00submitted\x00a")},
	}
	commit(t, s, b)

	ids := func() string {
		var out []string
		_ = s.PackageIDs("", func(id string) error {
			idx, _ := s.PackageIndexes(id)
			out = append(out, fmt.Sprint(id, idx))
			return nil
		})
		return strings.Join(out, " ")
	}
	if got := ids(); got != "a[0 1] ab[2]" {
		t.Errorf("packages and their entries: %s, want a[0 1] ab[2] (a state key is no entry)", got)
	}
	logged, err := s.PackagesLogged([]string{"a", "ab", "b"})
	if err != nil || !logged["a"] || !logged["ab"] || logged["b"] {
		t.Errorf("PackagesLogged: %v %v", logged, err)
	}
	states, err := s.PackageStates([]string{"a", "ab", "b"})
	if err != nil || string(states["a"]) != "state a" || string(states["ab"]) != "state ab" || len(states) != 2 {
		t.Errorf("PackageStates: %q %v", states, err)
	}
	if !store.IsStateKey(store.StateKey("a")) || store.IsStateKey(store.PackageKey("a", 0)) || store.IsStateKey(store.PackageKey("a", 256)) {
		t.Error("IsStateKey does not tell a state key from an entry key")
	}

	// A state operation naming an entry key is refused, the batch with it.
	bad := batch(3, 1, "a")
	bad.PackageIndex = []store.IndexOp{{Bucket: store.PkgState, Key: store.PackageKey("a", 0), Value: []byte("x")}}
	if err := s.Commit(bad); err == nil || !strings.Contains(err.Error(), "not a package state key") {
		t.Errorf("a state op on an entry key: %v", err)
	}
	if got := ids(); got != "a[0 1] ab[2]" {
		t.Errorf("after the refused batch: %s", got)
	}

	// An older format's bucket and a stale state; rebuilding keeps only
	// what it emits.
	if err := s.DB().Update(func(tx *bolt.Tx) error {
		old, err := tx.CreateBucket([]byte(store.BucketPkgState))
		if err != nil {
			return err
		}
		if err := old.Put([]byte("a"), []byte("format 3 state")); err != nil {
			return err
		}
		return tx.Bucket([]byte(store.BucketPackages)).Put(store.StateKey("gone"), []byte("stale"))
	}); err != nil {
		t.Fatal(err)
	}
	err = s.RebuildPackageIndex(4, func(v store.View, emit func(store.IndexOp) error) error {
		return emit(store.IndexOp{Bucket: store.PkgState, Key: store.StateKey("a"), Value: []byte("rebuilt a")})
	})
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	if err := s.DB().View(func(tx *bolt.Tx) error {
		if tx.Bucket([]byte(store.BucketPkgState)) != nil {
			return errors.New("the format 3 pkgstate bucket survived the rebuild")
		}
		return tx.Bucket([]byte(store.BucketPackages)).ForEach(func(k, v []byte) error {
			if store.IsStateKey(k) {
				keys = append(keys, fmt.Sprintf("%q=%s", k, v))
			}
			return nil
		})
	}); err != nil {
		t.Error(err)
	}
	if !slices.Equal(keys, []string{`"a\x00"=rebuilt a`}) {
		t.Errorf("states after the rebuild: %v", keys)
	}
	if got := ids(); got != "a[0 1] ab[2]" {
		t.Errorf("entry keys after the rebuild: %s", got)
	}
	if ok, err := s.HasPackageIndex(4); !ok || err != nil {
		t.Fatalf("index not marked built: %v %v", ok, err)
	}

	// Rebuilding the other indexes drops packages, states included: the
	// package-state index is then marked absent.
	err = s.RebuildIndexes(func(i uint64, l []byte, c func([]byte) []byte) (store.IndexRecords, error) {
		pkg := "a"
		if i == 2 {
			pkg = "ab"
		}
		return store.IndexRecords{Package: store.PackageKey(pkg, i), Agreement: i == 0}, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := s.HasPackageIndex(4); ok || err != nil {
		t.Errorf("after RebuildIndexes dropped the states, the index still counts as built (%v)", err)
	}
	if err := s.ReadIndex(3, func(store.View) error { return nil }); !errors.Is(err, store.ErrNoPackageIndex) {
		t.Errorf("a read of the dropped index: %v, want %v", err, store.ErrNoPackageIndex)
	}
}

// TestCommitPackagesAnyOrder: a batch's entry keys of packages and its
// state records, which share the packages bucket, are all written, and
// the state records in their order, whether they come sorted (then merged
// with the entry keys in key order) or not, with a state sorting after
// every entry key of the batch, and with a state deleted and put again.
func TestCommitPackagesAnyOrder(t *testing.T) {
	state := func(id, v string) store.IndexOp {
		return store.IndexOp{Bucket: store.PkgState, Key: store.StateKey(id), Value: []byte(v)}
	}
	for _, tc := range []struct {
		name   string
		pkgs   []string // the package of each entry of the batch
		states []store.IndexOp
		want   string
	}{
		{"sorted, entry keys out of order", []string{"c", "a", "b"},
			[]store.IndexOp{state("a", "1"), state("b", "2"), state("c", "3")},
			`a 1; a[1]; b 2; b[2]; c 3; c[0]`},
		{"a state after every entry key", []string{"a", "b"},
			[]store.IndexOp{state("a", "1"), state("b", "2"), state("z", "9")},
			`a 1; a[0]; b 2; b[1]; z 9`},
		{"unsorted", []string{"a", "b"},
			[]store.IndexOp{state("b", "2"), state("a", "1")},
			`a 1; a[0]; b 2; b[1]`},
		{"deleted and put again, in order", []string{"a", "b"},
			[]store.IndexOp{state("a", "old"), {Bucket: store.PkgState, Key: store.StateKey("a"), Delete: true}, state("a", "1"), state("b", "2")},
			`a 1; a[0]; b 2; b[1]`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, _ := newStore(t)
			b := batch(0, len(tc.pkgs), "")
			zero := uint64(0)
			b.Agreement = &zero
			for i, id := range tc.pkgs {
				b.Packages = append(b.Packages, store.PackageKey(id, uint64(i)))
			}
			b.PackageIndex = tc.states
			commit(t, s, b)
			var got []string
			err := s.DB().View(func(tx *bolt.Tx) error {
				return tx.Bucket([]byte(store.BucketPackages)).ForEach(func(k, v []byte) error {
					if store.IsStateKey(k) {
						got = append(got, fmt.Sprintf("%s %s", k[:len(k)-1], v))
					} else {
						id, idx, _ := strings.Cut(string(k), "\x00")
						got = append(got, fmt.Sprintf("%s[%d]", id, idx[len(idx)-1]))
					}
					return nil
				})
			})
			if err != nil {
				t.Fatal(err)
			}
			if g := strings.Join(got, "; "); g != tc.want {
				t.Errorf("packages bucket: %s, want %s", g, tc.want)
			}
		})
	}
}
