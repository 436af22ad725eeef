package verify

import (
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/mvm-exchange/mvm/internal/audit/spill"
	"github.com/mvm-exchange/mvm/internal/workflow"
)

// states is what an audit remembers of the entries applied so far: every
// package's state and every author's message ids.
type states interface {
	// pkg returns the state of a package, nil if there is none.
	pkg(id string) (*workflow.Package, error)
	// setPkg sets a package's state; compact, if not nil, is
	// p.AppendCompact(nil), made by the caller.
	setPkg(id string, p *workflow.Package, compact []byte) error
	// useMsgID records the message id digest key as used at index; if it
	// was used before, it returns the index of that first use instead.
	useMsgID(key [16]byte, index uint64) (prev uint64, used bool, err error)
	// report fills in the packages and breaches as of asOf.
	report(r *Report, asOf time.Time) error
	// counts, eachPkg and eachMsgID read everything back, for Save.
	counts() (pkgs, ids int)
	eachPkg(fn func(id string, p *workflow.Package) error) error
	eachMsgID(fn func(key [16]byte, index uint64) error) error
	close() error
}

// memStates keeps everything in the heap, and every package in the report.
type memStates struct {
	pkgs map[string]*workflow.Package
	// msgids holds a 128-bit digest of author and message id per entry:
	// exact enough (a collision needs ~2^64 ids), and a fixed 24 bytes.
	msgids map[[16]byte]uint64
}

func newMemStates() *memStates {
	return &memStates{pkgs: map[string]*workflow.Package{}, msgids: map[[16]byte]uint64{}}
}

func (s *memStates) pkg(id string) (*workflow.Package, error) { return s.pkgs[id], nil }

func (s *memStates) setPkg(id string, p *workflow.Package, _ []byte) error {
	s.pkgs[id] = p
	return nil
}

func (s *memStates) useMsgID(key [16]byte, index uint64) (uint64, bool, error) {
	if prev, used := s.msgids[key]; used {
		return prev, true, nil
	}
	s.msgids[key] = index
	return 0, false, nil
}

func (s *memStates) report(r *Report, asOf time.Time) error {
	pkgs := make([]*workflow.Package, 0, len(s.pkgs))
	for _, p := range s.pkgs {
		pkgs = append(pkgs, p)
	}
	r.Packages, r.Breaches = s.pkgs, workflow.Breaches(pkgs, asOf)
	r.PackageCount, r.BreachCount = len(s.pkgs), len(r.Breaches)
	return nil
}

func (s *memStates) close() error { return nil }

func (s *memStates) counts() (int, int) { return len(s.pkgs), len(s.msgids) }

func (s *memStates) eachPkg(fn func(string, *workflow.Package) error) error {
	for _, id := range slices.Sorted(maps.Keys(s.pkgs)) {
		if err := fn(id, s.pkgs[id]); err != nil {
			return err
		}
	}
	return nil
}

func (s *memStates) eachMsgID(fn func([16]byte, uint64) error) error {
	for k, i := range s.msgids {
		if err := fn(k, i); err != nil {
			return err
		}
	}
	return nil
}

// spillStates keeps the package states and message ids in temporary
// files (package spill): in memory only their indexes and a cache of
// recent states. The report gets counts, not packages or breaches.
type spillStates struct {
	pkgs *spill.Map[*workflow.Package]
	ids  *spill.Map[uint64]
	// final, if set, sees every package's final state (Options.Final).
	final func(*workflow.Package)
}

var packageCodec = spill.Codec[*workflow.Package]{
	Append: func(b []byte, p *workflow.Package) []byte { return p.AppendCompact(b) },
	Decode: workflow.DecodeCompact,
}

var indexCodec = spill.Codec[uint64]{
	Append: binary.AppendUvarint,
	Decode: func(b []byte) (uint64, error) {
		v, n := binary.Uvarint(b)
		if n != len(b) {
			return 0, errors.New("not an index")
		}
		return v, nil
	},
}

// newSpillStates makes the spill files in dir for a log of size entries,
// with cache package states decoded in memory.
func newSpillStates(dir string, size uint64, cache int, final func(*workflow.Package)) (*spillStates, error) {
	pkgs, err := spill.New(packageCodec, spill.Options{Dir: dir, Cache: cache})
	if err != nil {
		return nil, fmt.Errorf("package states: %w", err)
	}
	// One message id per entry: sized up front, the index never grows.
	ids, err := spill.New(indexCodec, spill.Options{Dir: dir, Keys: int(min(size, 1<<24))})
	if err != nil {
		pkgs.Close()
		return nil, fmt.Errorf("message ids: %w", err)
	}
	return &spillStates{pkgs: pkgs, ids: ids, final: final}, nil
}

func (s *spillStates) pkg(id string) (*workflow.Package, error) {
	p, _, err := s.pkgs.Get(id)
	if err != nil {
		return nil, fmt.Errorf("package states: %w", err)
	}
	return p, nil
}

func (s *spillStates) setPkg(id string, p *workflow.Package, compact []byte) error {
	if err := s.pkgs.PutEncoded(id, p, compact); err != nil {
		return fmt.Errorf("package states: %w", err)
	}
	return nil
}

func (s *spillStates) useMsgID(key [16]byte, index uint64) (uint64, bool, error) {
	prev, used, err := s.ids.Add(string(key[:]), index)
	if err != nil {
		return 0, false, fmt.Errorf("message ids: %w", err)
	}
	return prev, used, nil
}

// report counts the packages and their breaches, reading the states back
// from the file a batch at a time.
func (s *spillStates) report(r *Report, asOf time.Time) error {
	r.PackageCount = s.pkgs.Len()
	batch := make([]*workflow.Package, 0, 1024)
	count := func() {
		r.BreachCount += len(workflow.Breaches(batch, asOf))
		batch = batch[:0]
	}
	err := s.pkgs.All(func(_ string, p *workflow.Package) error {
		if s.final != nil {
			s.final(p)
		}
		if batch = append(batch, p); len(batch) == cap(batch) {
			count()
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("package states: %w", err)
	}
	count()
	return nil
}

func (s *spillStates) counts() (int, int) { return s.pkgs.Len(), s.ids.Len() }

func (s *spillStates) eachPkg(fn func(string, *workflow.Package) error) error {
	return s.pkgs.All(fn)
}

func (s *spillStates) eachMsgID(fn func([16]byte, uint64) error) error {
	return s.ids.All(func(k string, i uint64) error { return fn([16]byte([]byte(k)), i) })
}

func (s *spillStates) close() error {
	return errors.Join(s.pkgs.Close(), s.ids.Close())
}
