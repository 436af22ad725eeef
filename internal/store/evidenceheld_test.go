package store_test

import (
	"errors"
	"testing"

	"github.com/mvm-exchange/mvm/internal/store"
)

// The evidence holds: one per name, its party's sum kept with it, the
// limit checked in the same transaction; the same file counted once; a
// hold that grows is its grower's; all of it as reopened.
func TestEvidenceHolds(t *testing.T) {
	s, path := newStore(t)
	name := func(c byte) []byte { return []byte{c, c, c} }
	type op struct {
		do      string // hold, move, release
		name    []byte
		to      []byte // move
		party   string
		size    int64
		limit   int64
		overErr bool
	}
	for _, o := range []op{
		{do: "hold", name: name('a'), party: "af", size: 600, limit: 1000},
		{do: "hold", name: name('b'), party: "af", size: 500, limit: 1000, overErr: true},
		{do: "hold", name: name('b'), party: "af", size: 400, limit: 1000},
		{do: "hold", name: name('b'), party: "af", size: 400, limit: 1000}, // resumed: held already
		{do: "hold", name: name('a'), party: "pk", size: 600, limit: 0},    // the same bytes: af's
		{do: "hold", name: name('c'), party: "pk", size: 5000, limit: -1},  // unlimited
		{do: "hold", name: name('b'), party: "pk", size: 401, limit: 6000}, // grown: now pk's
		{do: "move", name: name('c'), to: name('a')},                       // stored already: dropped
		{do: "move", name: name('b'), to: name('d')},
		{do: "release", name: name('x')},
	} {
		var err error
		switch o.do {
		case "hold":
			_, err = s.HoldEvidence(o.name, o.party, o.size, o.limit)
		case "move":
			err = s.MoveEvidenceHold(o.name, o.to)
		case "release":
			err = s.ReleaseEvidence(o.name)
		}
		if got := errors.Is(err, store.ErrOverQuota); got != o.overErr || (err != nil && !got) {
			t.Fatalf("%s %q %s %d (limit %d): %v; want over quota: %v", o.do, o.name, o.party, o.size, o.limit, err, o.overErr)
		}
	}
	s.Close()
	s = open(t, path, store.Options{})
	defer s.Close()
	for _, w := range []struct {
		party string
		held  int64
	}{{"af", 600}, {"pk", 401}, {"tr", 0}} {
		if got, err := s.EvidenceHeld(w.party); err != nil || got != w.held {
			t.Errorf("EvidenceHeld(%s) = %d, %v; want %d", w.party, got, err, w.held)
		}
	}
	for _, w := range []struct {
		name []byte
		hold store.EvidenceHold
		ok   bool
	}{{name('a'), store.EvidenceHold{Party: "af", Size: 600}, true}, {name('d'), store.EvidenceHold{Party: "pk", Size: 401}, true}, {name('b'), store.EvidenceHold{}, false}, {name('c'), store.EvidenceHold{}, false}} {
		if got, ok, err := s.EvidenceHoldOf(w.name); err != nil || ok != w.ok || got != w.hold {
			t.Errorf("EvidenceHoldOf(%q) = %+v, %v, %v; want %+v, %v", w.name, got, ok, err, w.hold, w.ok)
		}
	}
	if err := s.ReleaseEvidence(name('d')); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.EvidenceHeld("pk"); got != 0 {
		t.Errorf("pk holds %d after its only hold was released; want 0", got)
	}
}
