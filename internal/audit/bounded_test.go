package audit_test

import (
	"fmt"
	"os"
	"reflect"
	"slices"
	"testing"

	"github.com/mvm-exchange/mvm/internal/audit"
	"github.com/mvm-exchange/mvm/internal/workflow"
)

// run audits src twice: with the package states in the heap (the result
// returned), and bounded, with the states and message ids in spill files
// and a cache of two states, so that nearly every state goes through its
// encoding and back. Both must reach the same verdict: the same error
// naming the same entry, or the same root, counts and final states; and
// the bounded run must leave no file behind.
func run(t *testing.T, src audit.Source, size uint64, o audit.Options) (*audit.Report, error) {
	t.Helper()
	rep, err := audit.Run(ctxT(t), src, size, o)

	b := o
	b.Bounded, b.TempDir = true, t.TempDir()
	seen := map[string]*workflow.Package{}
	restore := audit.SetBoundedForTest(2, func(p *workflow.Package) {
		if _, dup := seen[p.ID]; dup {
			t.Errorf("bounded audit: package %s reported twice", p.ID)
		}
		seen[p.ID] = p
	})
	brep, berr := audit.Run(ctxT(t), src, size, b)
	restore()
	if left, _ := os.ReadDir(b.TempDir); len(left) > 0 {
		t.Errorf("bounded audit left %d files in its temporary directory", len(left))
	}
	if fmt.Sprint(err) != fmt.Sprint(berr) {
		t.Errorf("bounded audit: error %v; in the heap: %v", berr, err)
		return rep, err
	}
	if err != nil {
		return rep, err
	}
	if brep.Packages != nil || brep.Breaches != nil {
		t.Errorf("bounded audit returned %d packages and %d breaches, want counts only", len(brep.Packages), len(brep.Breaches))
	}
	if brep.Entries != rep.Entries || !slices.Equal(brep.Root, rep.Root) || !slices.Equal(brep.RootAt, rep.RootAt) ||
		!brep.LastTime.Equal(rep.LastTime) || brep.Agreement.Index != rep.Agreement.Index ||
		!slices.Equal(brep.SignedBeforeRevocation, rep.SignedBeforeRevocation) {
		t.Errorf("bounded audit: %d entries root %x at %x, last %v, agreement %d, revoked %v; in the heap: %d, %x, %x, %v, %d, %v",
			brep.Entries, brep.Root, brep.RootAt, brep.LastTime, brep.Agreement.Index, brep.SignedBeforeRevocation,
			rep.Entries, rep.Root, rep.RootAt, rep.LastTime, rep.Agreement.Index, rep.SignedBeforeRevocation)
	}
	if brep.PackageCount != len(rep.Packages) || rep.PackageCount != len(rep.Packages) ||
		brep.BreachCount != len(rep.Breaches) || rep.BreachCount != len(rep.Breaches) {
		t.Errorf("counts: bounded %d packages %d breaches, in the heap %d (%d) and %d (%d)", brep.PackageCount, brep.BreachCount,
			rep.PackageCount, len(rep.Packages), rep.BreachCount, len(rep.Breaches))
	}
	if len(seen) != len(rep.Packages) {
		t.Errorf("bounded audit: %d final states, want %d", len(seen), len(rep.Packages))
	}
	for id, p := range rep.Packages {
		if got, want := seen[id], p.Compact(); !reflect.DeepEqual(got, want) {
			t.Errorf("package %s: bounded audit\n %+v\nin the heap\n %+v", id, got, want)
		}
	}
	return rep, err
}

// A bounded audit of a log whose packages go through every status, most
// of them evicted from the cache and read back from disk. (Every other
// audit of these tests runs bounded too, through run: the failures
// included.)
func TestBoundedAuditAgreesWithHeap(t *testing.T) {
	x := newExchange(t)
	x.populate(t)
	cp, _ := x.checkpoint(t)
	rep, err := run(t, x.tr, cp.Size, audit.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range []audit.Options{{KeepHistory: true}, {RootAt: cp.Size / 2}, {AsOf: rep.LastTime.AddDate(0, 1, 0)}} {
		if _, err := run(t, x.tr, cp.Size, o); err != nil {
			t.Fatal(err)
		}
	}
	if r, _ := x.audit(t, audit.Options{AsOf: rep.LastTime.AddDate(0, 1, 0)}); r.BreachCount < 3 || rep.PackageCount < 9 {
		t.Errorf("%d packages, %d breaches a month later: the comparison proves little", rep.PackageCount, r.BreachCount)
	}
}
