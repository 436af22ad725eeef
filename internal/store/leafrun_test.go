package store_test

import (
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"testing"

	bolt "go.etcd.io/bbolt"

	"github.com/mvm-exchange/mvm/internal/store"
)

// TestLeafRun: LeafRun hands fn the leaves LeafBatch copies (bounded in
// bytes, at least one, an error for a missing entry without calling fn),
// and leaves the caller's scratch with its array, holding no slice of
// the file.
func TestLeafRun(t *testing.T) {
	s, _ := newStore(t)
	commit(t, s, batch(0, 5, "pkg-a")) // "leaf N": 6 bytes each
	for _, tt := range []struct {
		start, end uint64
		max        int
		want       []string
		err        error
	}{
		{0, 5, 100, []string{"leaf 0", "leaf 1", "leaf 2", "leaf 3", "leaf 4"}, nil},
		{0, 5, 16, []string{"leaf 0", "leaf 1"}, nil}, // 8 bytes a leaf: exactly two
		{0, 5, 15, []string{"leaf 0"}, nil},
		{2, 5, 1, []string{"leaf 2"}, nil}, // at least one
		{1, 3, 100, []string{"leaf 1", "leaf 2"}, nil},
		{4, 4, 100, nil, nil},
		{3, 7, 100, nil, store.ErrNotFound},
		{5, 6, 100, nil, store.ErrNotFound},
	} {
		t.Run(fmt.Sprintf("%d-%d-%d", tt.start, tt.end, tt.max), func(t *testing.T) {
			var scratch [][]byte
			var got []string
			err := s.LeafRun(tt.start, tt.end, tt.max, 2, &scratch, func(leaves [][]byte) error {
				for _, l := range leaves {
					got = append(got, string(l))
				}
				return nil
			})
			if !slices.Equal(got, tt.want) || !errors.Is(err, tt.err) {
				t.Errorf("got %q %v, want %q %v", got, err, tt.want, tt.err)
			}
			if slices.ContainsFunc(scratch[:cap(scratch)], func(l []byte) bool { return l != nil }) || len(scratch) != 0 {
				t.Errorf("scratch after the call holds %d leaves and slices of the file: %q", len(scratch), scratch[:cap(scratch)])
			}
			if len(tt.want) > 0 && cap(scratch) < len(tt.want) {
				t.Errorf("scratch keeps an array of %d, want at least %d", cap(scratch), len(tt.want))
			}
			batch, err := s.LeafBatch(tt.start, tt.end, tt.max, 2)
			if copied := stringsOf(batch); !slices.Equal(copied, tt.want) || !errors.Is(err, tt.err) {
				t.Errorf("LeafBatch: got %q %v, want %q %v", copied, err, tt.want, tt.err)
			}
		})
	}
	stop := errors.New("stop")
	if err := s.LeafRun(0, 5, 100, 2, nil, func([][]byte) error { return stop }); !errors.Is(err, stop) {
		t.Errorf("a failing fn: got %v, want %v", err, stop)
	}
	// A hole in the middle (a damaged file) is an error, not the next
	// leaf served under the missing index.
	if err := s.DB().Update(func(tx *bolt.Tx) error {
		return tx.Bucket([]byte(store.BucketEntries)).Delete(binary.BigEndian.AppendUint64(nil, 2))
	}); err != nil {
		t.Fatal(err)
	}
	called := false
	if err := s.LeafRun(1, 4, 100, 2, nil, func([][]byte) error { called = true; return nil }); !errors.Is(err, store.ErrNotFound) || called {
		t.Errorf("entry 2 missing: %v (fn called: %v), want %v and no call", err, called, store.ErrNotFound)
	}
}

func stringsOf(b [][]byte) []string {
	var out []string
	for _, l := range b {
		out = append(out, string(l))
	}
	return out
}

// TestViewLeaves: View.Leaves walks the leaves of [from, to) in order,
// each once, as Leaf gives them, clipped to the leaves stored, and stops
// when fn says so; each leaf counts as an index read.
func TestViewLeaves(t *testing.T) {
	s, _ := newStore(t)
	commit(t, s, batch(0, 5, "pkg-a"))
	if err := s.RebuildPackageIndex(4, func(store.View, func(store.IndexOp) error) error { return nil }); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		from, to, stopAt uint64
		want             []uint64
	}{
		{0, 5, 99, []uint64{0, 1, 2, 3, 4}},
		{1, 3, 99, []uint64{1, 2}},
		{3, 99, 99, []uint64{3, 4}},
		{2, 2, 99, nil},
		{4, 1, 99, nil},
		{7, 9, 99, nil},
		{0, 5, 2, []uint64{0, 1, 2}},
	} {
		t.Run(fmt.Sprintf("[%d,%d) stop at %d", tt.from, tt.to, tt.stopAt), func(t *testing.T) {
			var got []uint64
			reads := s.IndexReads()
			err := s.ReadIndex(5, func(v store.View) error {
				v.Leaves(tt.from, tt.to, func(i uint64, leaf []byte) bool {
					if want := v.Leaf(i); string(leaf) != string(want) {
						t.Errorf("leaf %d: %q, Leaf gives %q", i, leaf, want)
					}
					got = append(got, i)
					return i != tt.stopAt
				})
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("walked %v, want %v", got, tt.want)
			}
			if n := s.IndexReads() - reads; n != int64(2*len(tt.want)) { // Leaves' and the test's Leaf
				t.Errorf("%d index reads, want %d", n, 2*len(tt.want))
			}
		})
	}
}
