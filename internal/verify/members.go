package verify

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/mvm-exchange/mvm/internal/entry"
	"github.com/mvm-exchange/mvm/internal/message"
)

// Package members (Options.Members): for every package, the indexes of
// its entries, kept in the heap (a map entry and 8 bytes per entry) and
// in the saved state, so that a client resuming a saved state finds the
// entries of a package (`client show`) without reading the log again.

// member records entry o at index, placed: a package's entry, whatever
// its kind, agreements aside (they belong to no package).
func (v *Verifier) member(index uint64, o *entry.Opened) {
	if o == nil || o.Payload == nil || o.IsAgreement() {
		return
	}
	if id := message.PackageID(o.Payload); id != "" {
		v.members[id] = append(v.members[id], index)
	}
}

// Members returns the indexes, in log order, of the entries of package id
// among those placed (with Options.Members; nil without).
func (v *Verifier) Members(id string) []uint64 { return slices.Clone(v.members[id]) }

func (v *Verifier) kind() uint64 {
	var k uint64
	if v.o.AgreementsOnly {
		k |= kindAgreementsOnly
	}
	if v.o.Members {
		k |= kindMembers
	}
	return k
}

func kindName(k uint64) string {
	var parts []string
	if k&kindAgreementsOnly != 0 {
		parts = append(parts, "agreements only")
	} else {
		parts = append(parts, "every entry")
	}
	if k&kindMembers != 0 {
		parts = append(parts, "package members")
	}
	if k&^(kindAgreementsOnly|kindMembers) != 0 {
		parts = append(parts, "unknown")
	}
	return strings.Join(parts, ", ")
}

// saveMembers writes the members, packages sorted, indexes as deltas.
func (v *Verifier) saveMembers(s *stateWriter) {
	if !v.o.Members {
		return
	}
	s.uvarint(uint64(len(v.members)))
	for _, id := range slices.Sorted(maps.Keys(v.members)) {
		idx := v.members[id]
		s.blob([]byte(id))
		s.uvarint(uint64(len(idx)))
		prev := uint64(0)
		for _, i := range idx {
			s.uvarint(i - prev)
			prev = i
		}
	}
}

// resumeMembers reads what saveMembers wrote: every index below the
// state's size, increasing.
func (v *Verifier) resumeMembers(s *stateReader) {
	if !v.o.Members {
		return
	}
	for n := s.count(-1); n > 0 && s.err == nil; n-- {
		id := string(s.blob())
		m := s.count(-1)
		if m > v.next && s.err == nil {
			s.err = fmt.Errorf("package %q has %d entries in a log of %d", id, m, v.next)
		}
		idx := make([]uint64, 0, min(m, 1<<16))
		prev := uint64(0)
		for j := uint64(0); j < m && s.err == nil; j++ {
			d := s.uvarint()
			if (j > 0 && d == 0) || prev+d >= v.next {
				s.err = fmt.Errorf("package %q: entry indexes out of order or beyond the log", id)
			}
			prev += d
			idx = append(idx, prev)
		}
		v.members[id] = idx
	}
}
