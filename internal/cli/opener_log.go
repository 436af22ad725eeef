package cli

import (
	"context"
	"fmt"
	"strings"

	"google.golang.org/protobuf/proto"

	"github.com/mvm-exchange/mvm/internal/entry"
	"github.com/mvm-exchange/mvm/internal/identity"
	"github.com/mvm-exchange/mvm/internal/message"
	"github.com/mvm-exchange/mvm/internal/seal"
	mvmv1 "github.com/mvm-exchange/mvm/proto/mvm/v1"
)

// Whole-log reads (export --format stix|geojson, monthly-report,
// verify-report) open every sealed body the caller's key opens, with the
// bodyOpener list and watch use: one package key unwrapped per package,
// every body validated against its header (message.Open). A log can hold
// 100,000s of entries the caller cannot open, so what stays sealed is
// counted and said in one line at the end, not one per entry; only an
// author's fault is named, by its entry, as show names it.

// sealedTally is what a whole-log read could not open. Its packages are
// counted, not listed: one whose key does not open is counted at its
// target package, which comes first in the log; one whose key opens is
// counted when a body of it is its author's fault (rare: those are
// listed).
type sealedTally struct {
	entries  int // sealed entries shown as headers only
	packages int // their packages
	faulty   map[string]bool
	kinds    []string // why, one line per kind of reason, in the order met
	told     map[string]bool
	faults   []string // the authors' faults, the first maxFaultsShown in log order
	nFaults  int
}

// openLogged returns the opened payload of entry index of a whole-log
// read, by author; nil when it is not sealed or does not open, which is
// tallied.
func (b *bodyOpener) openLogged(ctx context.Context, index uint64, author identity.Identity, o *entry.Opened) proto.Message {
	if o.Payload == nil || !message.IsSealed(o.Payload) {
		return nil
	}
	id := message.PackageID(o.Payload)
	_, failedBefore := b.failed[id]
	full, err := b.openBody(ctx, o)
	if err == nil {
		return full
	}
	t := &b.tally
	if t.told == nil {
		t.faulty, t.told = map[string]bool{}, map[string]bool{}
	}
	t.entries++
	if _, keyed := b.keys[id]; keyed {
		if !t.faulty[id] {
			t.faulty[id] = true
			t.packages++
		}
	} else if _, isTarget := o.Payload.(*mvmv1.TargetPackage); isTarget {
		t.packages++
	}
	if message.IsFault(err) && !failedBefore {
		// This entry's own fault (its body, or the package key its target
		// package wraps): named once, here; the package's later entries
		// are counted with it.
		if t.nFaults++; len(t.faults) < maxFaultsShown {
			t.faults = append(t.faults, fmt.Sprintf("sealed: entry %d is a fault of its author %s, its header only is shown: %s", index, author, oneLine(err)))
		}
	}
	kind, why := b.reason(err)
	if !t.told[kind] {
		t.told[kind] = true
		t.kinds = append(t.kinds, why)
	}
	return nil
}

// reportSalt returns the report salt of package id (seal.ReportSalt),
// whose key the opener unwrapped: what a report writes next to the
// coordinates it opened, which every recipient computes alike and no one
// else can.
func (b *bodyOpener) reportSalt(id string) ([]byte, error) {
	k, ok := b.keys[id]
	if !ok {
		// openBody opened its target package with the key: a bug.
		return nil, fmt.Errorf("package %s: opened without its package key at hand, so no report salt", id)
	}
	return seal.ReportSalt(k, b.origin, id)
}

// reason words err for the one summary line: the same words for every
// package it stands for.
func (b *bodyOpener) reason(err error) (kind, why string) {
	party := b.c.ID.Party
	switch sealedKindOf(err) {
	case sealedNotRecipient:
		return "recipient", fmt.Sprintf("party %s is not a recipient", party)
	case sealedNoKey:
		if err == b.noKey {
			return "no key", fmt.Sprintf("no key (party %s has no decryption key here: %s; give --key FILE)", party, b.keyFile)
		}
		return "rotated", fmt.Sprintf("party %s holds no decryption key with the Key-Id they were sealed to (give its older keys with --key)", party)
	case sealedFault:
		return "fault", "their authors' faults (named above)"
	}
	return "other " + err.Error(), oneLine(err)
}

// sealedSummary returns the lines a whole-log read prints on stderr
// about what it could not open: each author's fault (up to
// maxFaultsShown), then one line with the count and why; none when every
// sealed body opened.
func (b *bodyOpener) sealedSummary() []string {
	t := &b.tally
	if t.entries == 0 {
		return nil
	}
	out := t.faults
	if more := t.nFaults - len(t.faults); more > 0 {
		out = append(out, fmt.Sprintf("sealed: ... and %d more faults", more))
	}
	return append(out, fmt.Sprintf("sealed: %d entries in %d packages shown as headers only: %s",
		t.entries, t.packages, strings.Join(t.kinds, "; ")))
}
