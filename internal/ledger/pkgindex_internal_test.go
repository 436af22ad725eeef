package ledger

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/mvm-exchange/mvm/internal/identity"
	"github.com/mvm-exchange/mvm/internal/store"
	"github.com/mvm-exchange/mvm/internal/workflow"
)

// TestIndexChanges: what each change of a package's state does to its
// index records, in particular to its breach keys: a deadline is indexed
// while open, stays when met late (with its met time), and leaves when met
// on time.
func TestIndexChanges(t *testing.T) {
	due := time.Date(2026, 3, 2, 8, 0, 0, 0, time.UTC)
	pkg := func(status workflow.Status, met time.Time) *workflow.Package {
		return &workflow.Package{ID: "p1", Submitter: identity.Identity{Party: "pk"}, Responder: "af", Status: status,
			Deadlines: []workflow.Deadline{{Name: workflow.DeadlineAcknowledge, Party: "af", Due: due, Met: met}}}
	}
	open := pkg(workflow.StatusSubmitted, time.Time{})
	count := func(ops []store.IndexOp, b store.IndexBucket, del bool) int {
		n := 0
		for _, op := range ops {
			if op.Bucket == b && op.Delete == del {
				n++
			}
		}
		return n
	}
	for _, tc := range []struct {
		name     string
		old, new *workflow.Package
		// puts and deletes per bucket: state, list, due
		puts, dels [3]int
	}{
		// state; one listing key and one breach key, in the scope of the pair (pk, af)
		{"new package", nil, open, [3]int{1, 1, 1}, [3]int{}},
		{"acknowledged on time", open, pkg(workflow.StatusAcknowledged, due.Add(-time.Hour)), [3]int{1, 1, 0}, [3]int{0, 1, 1}},
		{"acknowledged late", open, pkg(workflow.StatusAcknowledged, due.Add(time.Hour)), [3]int{1, 1, 1}, [3]int{0, 1, 0}},
		{"state only", open, open, [3]int{1, 0, 0}, [3]int{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ops := indexChanges(tc.old, tc.new)
			for b := range 3 {
				if got := count(ops, store.IndexBucket(b), false); got != tc.puts[b] {
					t.Errorf("bucket %d: %d puts, want %d", b, got, tc.puts[b])
				}
				if got := count(ops, store.IndexBucket(b), true); got != tc.dels[b] {
					t.Errorf("bucket %d: %d deletes, want %d", b, got, tc.dels[b])
				}
			}
			for _, op := range ops {
				if op.Bucket == store.PkgState && string(op.Key) != "p1\x00" {
					t.Errorf("state key %q, want the package's store.StateKey", op.Key)
				}
				if op.Bucket != store.PkgDue || op.Delete {
					continue
				}
				r, err := DecodeBreach(op.Key, op.Value)
				if err != nil || r.PackageID != "p1" || r.Deadline.Party != "af" || r.Deadline.Name != workflow.DeadlineAcknowledge ||
					!r.Deadline.Due.Equal(due) || !r.Deadline.Met.Equal(tc.new.Deadlines[0].Met) {
					t.Errorf("breach record %+v, %v", r, err)
				}
				if !strings.Contains(string(op.Key), "p1\x00acknowledge") {
					t.Errorf("breach key %q", op.Key)
				}
			}
		})
	}
}

// TestPackageRecordsDoNotShare: the records are cut from one buffer, each
// capped, so growing one key or value (as a caller may) leaves every other
// record as it was.
func TestPackageRecordsDoNotShare(t *testing.T) {
	due := time.Date(2026, 3, 2, 8, 0, 0, 0, time.UTC)
	p := &workflow.Package{ID: "p1", Submitter: identity.Identity{Party: "pk"}, Responder: "af", Status: workflow.StatusSubmitted,
		Deadlines: []workflow.Deadline{{Name: workflow.DeadlineAcknowledge, Party: "af", Due: due}}}
	recs := packageRecords(p, true)
	want := make([][2]string, len(recs))
	for i, r := range recs {
		want[i] = [2]string{string(r.Key), string(r.Value)}
	}
	for i := range recs {
		_ = append(recs[i].Key, "XXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX"...)
		_ = append(recs[i].Value, "XXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX"...)
	}
	for i, r := range recs {
		if got := [2]string{string(r.Key), string(r.Value)}; got != want[i] {
			t.Errorf("record %d changed by growing another: %q, want %q", i, got, want[i])
		}
		if r.Bucket == store.PkgList && (r.Value == nil || len(r.Value) != 0) {
			t.Errorf("listing record %q: value %v, want empty", r.Key, r.Value)
		}
	}
}

// TestBatchRecordsDoNotShare: the writer cuts the records of a whole batch
// (new packages and changes of existing ones) from one buffer, which grows
// as it goes; growing any key or value afterwards leaves every other
// record as it was, and each package's records are those it has alone.
func TestBatchRecordsDoNotShare(t *testing.T) {
	due := time.Date(2026, 3, 2, 8, 0, 0, 0, time.UTC)
	pkg := func(id string, status workflow.Status, met time.Time) *workflow.Package {
		return &workflow.Package{ID: id, Submitter: identity.Identity{Party: "pk"}, Responder: "af", Status: status,
			Deadlines: []workflow.Deadline{{Name: workflow.DeadlineAcknowledge, Party: "af", Due: due, Met: met}}}
	}
	var buf []byte // no capacity: every package grows it
	var ops []store.IndexOp
	var want []store.IndexOp
	for i := range 20 {
		id := strings.Repeat(string(rune('a'+i)), 10+i)
		old, next := (*workflow.Package)(nil), pkg(id, workflow.StatusSubmitted, time.Time{})
		if i%2 == 1 {
			old, next = next, pkg(id, workflow.StatusAcknowledged, due.Add(time.Hour))
		}
		ops = appendChanges(ops, &buf, old, next, nil)
		want = append(want, indexChanges(old, next)...)
	}
	snapshot := func(ops []store.IndexOp) []string {
		var out []string
		for _, op := range ops {
			out = append(out, fmt.Sprintf("%d %q %q %v", op.Bucket, op.Key, op.Value, op.Delete))
		}
		return out
	}
	before := snapshot(ops)
	if fmt.Sprint(before) != fmt.Sprint(snapshot(want)) {
		t.Fatalf("a batch's records differ from each package's own:\n%v\nwant\n%v", before, snapshot(want))
	}
	for i := range ops {
		_ = append(ops[i].Key, "XXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX"...)
		_ = append(ops[i].Value, "XXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX"...)
	}
	for i, s := range snapshot(ops) {
		if s != before[i] {
			t.Errorf("record %d changed by growing another: %s, want %s", i, s, before[i])
		}
	}
}

// TestDecodeBreachMalformed: a damaged breach key or value is an error,
// never a record made of its pieces.
func TestDecodeBreachMalformed(t *testing.T) {
	due := time.Date(2026, 3, 2, 8, 0, 0, 0, time.UTC)
	p := &workflow.Package{ID: "p1", Submitter: identity.Identity{Party: "pk"}, Responder: "af", Status: workflow.StatusSubmitted,
		Deadlines: []workflow.Deadline{{Name: workflow.DeadlineAcknowledge, Party: "af", Due: due}}}
	var key []byte
	for _, r := range packageRecords(p, true) {
		if r.Bucket == store.PkgDue {
			key = r.Key
		}
	}
	if _, err := DecodeBreach(key, nil); err != nil {
		t.Fatalf("the record as written: %v", err)
	}
	scope := len("pk\x00af\x00af\x00")
	for _, tc := range []struct {
		name string
		k, v []byte
	}{
		{"no party", []byte("pk\x00af"), nil},
		{"short due time", key[:scope+5], nil},
		{"no deadline name", key[:scope+12+2], nil},
		{"no package", append(bytes.Clone(key[:scope+12]), "\x00acknowledge"...), nil},
		{"value not a time", key, []byte{1, 2, 3}},
	} {
		if r, err := DecodeBreach(tc.k, tc.v); err == nil {
			t.Errorf("%s: decoded %+v", tc.name, r)
		}
	}
}
