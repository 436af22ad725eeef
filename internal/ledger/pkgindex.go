package ledger

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
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
//	pkgstate  id → workflow compact state; id ‖ 0 ‖ "summary" → the target's summary
//	pkglist   scope ‖ 0 ‖ status ‖ 0 ‖ id → nothing
//	pkgdue    scope ‖ 0 ‖ party ‖ 0 ‖ due ‖ id ‖ 0 ‖ deadline → BreachRecord
//
// A scope is "" (every package: mediators) or a party the package is on
// (its submitter's and its responder's); status "" lists every status,
// party "" every party's deadlines. pkgdue holds only the deadlines that
// are breaches at some time (workflow.Breachable: open, or met late), in
// breach order (due time, package, deadline), so the breaches as of t are
// exactly the first keys of a scope whose due time is before t
// (agreement deadlines are positive, so every such deadline already
// existed at t).
//
// The writer computes the changes a batch makes from each package's state
// before and after it (indexChanges) and commits them in the batch's
// transaction; RebuildPackageIndex recomputes everything from the entries
// with the same records function, so a rebuilt index equals the written
// one byte for byte, and verify-db compares the two.

// PackageIndexVersion is the format of the records below.
const PackageIndexVersion = 1

// Scope is the listing scope of a caller: AllPackages for mediators, the
// caller's party otherwise.
const AllPackages = ""

// ListPrefix is the pkglist prefix of a scope and a status ("" for all).
func ListPrefix(scope, status string) []byte {
	k := append([]byte(scope), 0)
	k = append(k, status...)
	return append(k, 0)
}

// ListedID returns the package id a pkglist key ends with.
func ListedID(key []byte) string {
	return string(key[bytes.LastIndexByte(key, 0)+1:])
}

// DuePrefix is the pkgdue prefix of a scope and a deadline party ("" for all).
func DuePrefix(scope, party string) []byte {
	k := append([]byte(scope), 0)
	k = append(k, party...)
	return append(k, 0)
}

// DueBefore returns the pkgdue key prefix ‖ due(t) with nothing after it:
// every key of that prefix sorting before it is due before t.
func DueBefore(prefix []byte, t time.Time) []byte {
	return appendTime(bytes.Clone(prefix), t)
}

// SummaryKey is the pkgstate key of a package's target summary.
func SummaryKey(id string) []byte { return append([]byte(id), 0, 's', 'u', 'm', 'm', 'a', 'r', 'y') }

// appendTime appends t as 12 bytes that sort as times do: seconds offset
// by 2^63, then nanoseconds.
func appendTime(b []byte, t time.Time) []byte {
	b = binary.BigEndian.AppendUint64(b, uint64(t.Unix())^1<<63)
	return binary.BigEndian.AppendUint32(b, uint32(t.Nanosecond()))
}

// BreachRecord is a pkgdue value: one breachable deadline of a package.
type BreachRecord struct {
	PackageID string
	Deadline  workflow.Deadline
}

func encodeBreach(id string, d workflow.Deadline) []byte {
	b := binary.AppendUvarint(nil, uint64(len(id)))
	b = append(b, id...)
	for _, s := range []string{d.Name, d.Party} {
		b = binary.AppendUvarint(b, uint64(len(s)))
		b = append(b, s...)
	}
	b = appendTime(b, d.Due)
	if !d.Met.IsZero() {
		b = appendTime(b, d.Met)
	}
	return b
}

// DecodeBreach decodes a pkgdue value.
func DecodeBreach(b []byte) (BreachRecord, error) {
	var r BreachRecord
	var strs [3]string
	for i := range strs {
		n, k := binary.Uvarint(b)
		if k <= 0 || n > uint64(len(b)-k) {
			return r, errors.New("malformed breach record")
		}
		strs[i], b = string(b[k:k+int(n)]), b[k+int(n):]
	}
	readTime := func() time.Time {
		t := time.Unix(int64(binary.BigEndian.Uint64(b)^1<<63), int64(binary.BigEndian.Uint32(b[8:]))).UTC()
		b = b[12:]
		return t
	}
	if len(b) != 12 && len(b) != 24 {
		return r, errors.New("malformed breach record times")
	}
	r.PackageID = strs[0]
	r.Deadline = workflow.Deadline{Name: strs[1], Party: strs[2], Due: readTime()}
	if len(b) == 12 {
		r.Deadline.Met = readTime()
	}
	return r, nil
}

// packageRecords are the index records of one package state, by bucket.
func packageRecords(p *workflow.Package) [3]map[string][]byte {
	var r [3]map[string][]byte
	r[store.PkgState] = map[string][]byte{p.ID: p.AppendCompact(nil)}
	r[store.PkgList] = map[string][]byte{}
	r[store.PkgDue] = map[string][]byte{}
	scopes := []string{AllPackages, p.Submitter.Party, p.Responder}
	for _, scope := range scopes {
		for _, status := range []string{"", string(p.Status)} {
			r[store.PkgList][string(append(ListPrefix(scope, status), p.ID...))] = nil
		}
		for _, d := range p.Deadlines {
			if !workflow.Breachable(d) {
				continue
			}
			v := encodeBreach(p.ID, d)
			for _, party := range []string{"", d.Party} {
				k := appendTime(DuePrefix(scope, party), d.Due)
				k = append(append(append(k, p.ID...), 0), d.Name...)
				r[store.PkgDue][string(k)] = v
			}
		}
	}
	return r
}

// indexChanges returns the index operations that take the index from
// package state old (nil: none yet) to next.
func indexChanges(old, next *workflow.Package) []store.IndexOp {
	var ops []store.IndexOp
	var was [3]map[string][]byte
	if old != nil {
		was = packageRecords(old)
	} else if next.Target != nil {
		ops = append(ops, store.IndexOp{Bucket: store.PkgState, Key: SummaryKey(next.ID), Value: []byte(next.Target.GetSummary())})
	}
	now := packageRecords(next)
	for b := range now {
		for _, k := range slices.Sorted(maps.Keys(was[b])) {
			if _, ok := now[b][k]; !ok {
				ops = append(ops, store.IndexOp{Bucket: store.IndexBucket(b), Key: []byte(k), Delete: true})
			}
		}
		for _, k := range slices.Sorted(maps.Keys(now[b])) {
			v := now[b][k]
			if old, ok := was[b][k]; !ok || !bytes.Equal(old, v) {
				ops = append(ops, store.IndexOp{Bucket: store.IndexBucket(b), Key: []byte(k), Value: v})
			}
		}
	}
	return ops
}

// DecodeState decodes a package's pkgstate value.
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
