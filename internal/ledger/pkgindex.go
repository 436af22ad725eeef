package ledger

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/mvm-exchange/mvm/internal/store"
	"github.com/mvm-exchange/mvm/internal/workflow"
)

// The package-state index: for each package, its compact state (what the
// writer applies the next entry to, and what readers summarise), and keys
// that let a reader answer list and breach queries by reading only the
// answer, already scoped to the caller.
//
//	packages  id ‖ 0 → workflow compact state (store.StateKey: beside the
//	          package's entry keys, whose page every append to the package
//	          writes anyway; the target's summary text is read from the
//	          submission entry, not copied here)
//	pkglist   scope ‖ 0 ‖ status ‖ 0 ‖ id → nothing
//	pkgdue    scope ‖ 0 ‖ party ‖ 0 ‖ due ‖ id ‖ 0 ‖ deadline → met time, if met
//
// A package's scope is the pair of its parties, submitter ‖ 0 ‖ responder
// (PairScope): one listing key per package and one breach key per
// breachable deadline, each in one range, so a new package writes three
// records (state, listing, its acknowledgement deadline), and only the
// listing and breach keys are key ranges of their own: the state goes
// where the package's entry key goes. (Format 2 scoped by each party: five
// records in five ranges, ~40% of an append's commit; format 3 kept the
// states in a bucket of their own, three ranges; docs/PERFORMANCE.md.)
// A breach key holds everything of its record but the time the deadline
// was met, which is its value (empty while it is open). A party reads the
// scopes of the pairs it is in, with every party of the log's agreements
// (each package's parties are parties of the agreement it was submitted
// under); a mediator reads every pair's. A listing of every status merges
// the status ranges, breaches of every party merge the party ranges
// (store.View.Scan); no package is in two scopes. pkgdue holds only the
// deadlines that are breaches at some time (workflow.Breachable: open, or
// met late), in breach order (due time, package, deadline), so the
// breaches as of t are exactly the first keys of a range whose due time is
// before t (agreement deadlines are positive, so every such deadline
// already existed at t). A deadline's party is one of its package's two
// (workflow: the responder's), which is where readers look for it.
//
// The writer computes the changes a batch makes from each package's state
// before and after it (indexChanges) and commits them in the batch's
// transaction; RebuildPackageIndex recomputes everything from the entries
// with the same records function, so a rebuilt index equals the written
// one byte for byte, and verify-db compares the two.

// PackageIndexVersion is the format of the records below. 2: the compact
// state knows whether the package is sealed. 3: scopes are pairs of
// parties. 4: states kept in packages beside the entry keys, breach values
// only the met time. A store of an older format rebuilds its index at start-up
// (ensurePackageIndex; logged), as `--rebuild-indexes` would.
const PackageIndexVersion = 3

// PairScope is the scope of the packages submitted by submitter to
// responder.
func PairScope(submitter, responder string) string {
	return submitter + "\x00" + responder
}

// ListPrefix is the pkglist prefix of a scope and a status.
func ListPrefix(scope, status string) []byte {
	k := append([]byte(scope), 0)
	k = append(k, status...)
	return append(k, 0)
}

// DuePrefix is the pkgdue prefix of a scope and a deadline party.
func DuePrefix(scope, party string) []byte {
	k := append([]byte(scope), 0)
	k = append(k, party...)
	return append(k, 0)
}

// DueSuffix is the pkgdue key suffix (after a range's prefix) from which
// keys are due at or after t: the breaches as of t sort before it.
func DueSuffix(t time.Time) []byte { return appendTime(nil, t) }

// appendTime appends t as 12 bytes that sort as times do: seconds offset
// by 2^63, then nanoseconds.
func appendTime(b []byte, t time.Time) []byte {
	b = binary.BigEndian.AppendUint64(b, uint64(t.Unix())^1<<63)
	return binary.BigEndian.AppendUint32(b, uint32(t.Nanosecond()))
}

// BreachRecord is one breachable deadline of a package: a pkgdue key and
// its value.
type BreachRecord struct {
	PackageID string
	Deadline  workflow.Deadline
}

// readTime reads what appendTime wrote (12 bytes).
func readTime(b []byte) time.Time {
	return time.Unix(int64(binary.BigEndian.Uint64(b)^1<<63), int64(binary.BigEndian.Uint32(b[8:]))).UTC()
}

// DecodeBreach decodes a pkgdue key and its value.
func DecodeBreach(k, v []byte) (BreachRecord, error) {
	var r BreachRecord
	// scope (submitter ‖ 0 ‖ responder) ‖ 0 ‖ party ‖ 0: none holds a 0.
	var party []byte
	for range 3 {
		i := bytes.IndexByte(k, 0)
		if i < 0 {
			return r, errors.New("malformed breach key: no scope and party")
		}
		party, k = k[:i], k[i+1:]
	}
	if len(k) < 12 {
		return r, errors.New("malformed breach key: no due time")
	}
	due := readTime(k)
	id, name, ok := bytes.Cut(k[12:], []byte{0})
	if !ok || len(id) == 0 {
		return r, errors.New("malformed breach key: no package and deadline")
	}
	r.PackageID = string(id)
	r.Deadline = workflow.Deadline{Name: string(name), Party: string(party), Due: due}
	switch len(v) {
	case 0:
	case 12:
		r.Deadline.Met = readTime(v)
	default:
		return r, errors.New("malformed breach record: not a time")
	}
	return r, nil
}

// packageRecords are the index records of one package state: its state,
// then, in its scope, one listing key and one key per breachable deadline.
// No two share a key.
func packageRecords(p *workflow.Package, state bool) []store.IndexOp {
	var buf []byte
	return appendRecords(nil, &buf, p, state, nil)
}

// appendRecords appends the records of package state p (packageRecords)
// to recs, their keys and values cut from *buf, each capped so that
// appending to one cannot overwrite the next. The writer cuts every record
// of a batch from one buffer: an allocation per key and value, then per
// package, was most of what computing them cost. A record cut before *buf
// grew keeps the array it was cut from, which nothing writes again. With
// state, compact is p.AppendCompact(nil) if the caller has it (a node's
// verifier made it for its spill file), the state record's value as it
// is; nil: encoded here.
func appendRecords(recs []store.IndexOp, buf *[]byte, p *workflow.Package, state bool, compact []byte) []store.IndexOp {
	sub, resp := p.Submitter.Party, p.Responder
	scope := len(sub) + 1 + len(resp) // PairScope, appended in place
	size := 0                         // a bound on the bytes below, so that buf is rarely grown
	if state {
		size += len(p.ID) + 1
		if compact == nil {
			size += 256 // the compact state: grown by append if larger
		}
	}
	size += scope + len(p.Status) + len(p.ID) + 2
	for _, d := range p.Deadlines {
		// key: scope, party, due, id, name; value: the met time
		size += scope + len(d.Party) + len(d.Name) + len(p.ID) + 3 + 12 + 12
	}
	b := slices.Grow(*buf, size)
	defer func() { *buf = b }()
	cut := func(from int) []byte { return b[from:len(b):len(b)] }
	if state {
		from := len(b)
		b = append(append(b, p.ID...), 0) // store.StateKey
		k := cut(from)
		v := compact[:len(compact):len(compact)]
		if compact == nil {
			b = p.AppendCompact(b)
			v = cut(from + len(k))
		}
		recs = append(recs, store.IndexOp{Bucket: store.PkgState, Key: k, Value: v})
	}
	appendScope := func(b []byte) []byte { return append(append(append(b, sub...), 0), resp...) }
	from := len(b)
	b = append(append(append(append(appendScope(b), 0), p.Status...), 0), p.ID...)
	recs = append(recs, store.IndexOp{Bucket: store.PkgList, Key: cut(from), Value: cut(len(b))})
	for _, d := range p.Deadlines {
		if !workflow.Breachable(d) {
			continue
		}
		from := len(b)
		b = append(append(append(appendScope(b), 0), d.Party...), 0)
		b = appendTime(b, d.Due)
		b = append(append(append(b, p.ID...), 0), d.Name...)
		k := cut(from)
		if !d.Met.IsZero() {
			b = appendTime(b, d.Met)
		}
		recs = append(recs, store.IndexOp{Bucket: store.PkgDue, Key: k, Value: cut(from + len(k))})
	}
	return recs
}

// indexChanges returns the index operations that take the index from
// package state old (nil: none yet) to next.
func indexChanges(old, next *workflow.Package) []store.IndexOp {
	var buf []byte
	return appendChanges(nil, &buf, old, next, nil)
}

// appendChanges appends to ops what indexChanges returns, cut from *buf
// (appendRecords; nextCompact is next's encoding if the caller has it).
// A package has a dozen records at most, so they are compared pairwise.
func appendChanges(ops []store.IndexOp, buf *[]byte, old, next *workflow.Package, nextCompact []byte) []store.IndexOp {
	if old == nil {
		return appendRecords(ops, buf, next, true, nextCompact)
	}
	now := appendRecords(nil, buf, next, true, nextCompact)
	// Every entry changes the state (its per-party counts at least), so
	// the old state is not encoded to be compared.
	was := appendRecords(nil, buf, old, false, nil)
	find := func(recs []store.IndexOp, r store.IndexOp) *store.IndexOp {
		for i := range recs {
			if recs[i].Bucket == r.Bucket && bytes.Equal(recs[i].Key, r.Key) {
				return &recs[i]
			}
		}
		return nil
	}
	for _, r := range was {
		if find(now, r) == nil {
			ops = append(ops, store.IndexOp{Bucket: r.Bucket, Key: r.Key, Delete: true})
		}
	}
	for _, r := range now {
		if o := find(was, r); o == nil || r.Bucket == store.PkgState || !bytes.Equal(o.Value, r.Value) {
			ops = append(ops, r)
		}
	}
	return ops
}

// DecodeState decodes a package's indexed state (its value in packages).
func DecodeState(v []byte) (*workflow.Package, error) {
	p, err := workflow.DecodeCompact(v)
	if err != nil {
		return nil, fmt.Errorf("%w: package index: %v", errCorrupt, err)
	}
	return p, nil
}

// ReadIndex runs fn in one read transaction of the store that sees exactly
// the published head h: never a batch whose commit is still being made
// durable (it waits for that batch's head instead).
func (l *Ledger) ReadIndex(ctx context.Context, fn func(v store.View, h *Head) error) error {
	for {
		h := l.Head()
		err := l.st.ReadIndex(h.Size, func(v store.View) error { return fn(v, h) })
		if !errors.Is(err, store.ErrAhead) {
			return err
		}
		select {
		case <-h.Changed():
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}
