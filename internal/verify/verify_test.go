package verify_test

// The verifier is fed from a real log: a testenv server (real TLS, real
// signatures) writes it into a real bbolt file, which the tests read back
// through the store, as server --verify-db does.

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/mvm-exchange/mvm/client/mvmclient"
	"github.com/mvm-exchange/mvm/internal/entry"
	"github.com/mvm-exchange/mvm/internal/message"
	"github.com/mvm-exchange/mvm/internal/store"
	"github.com/mvm-exchange/mvm/internal/testenv"
	"github.com/mvm-exchange/mvm/internal/tlog"
	"github.com/mvm-exchange/mvm/internal/verify"
	mvmv1 "github.com/mvm-exchange/mvm/proto/mvm/v1"
)

// logFile is a stopped server's log, read back from its bbolt file.
type logFile struct {
	leaves  [][]byte
	certs   map[string][]byte
	cp      *tlog.Checkpoint
	genesis []byte
}

// newLog writes a log of 12 entries (genesis, 6 packages, 4
// acknowledgements, an action report) and reads it back from the file.
func newLog(t *testing.T) *logFile {
	t.Helper()
	env := testenv.New(t)
	ctx := context.Background()
	pk, af := env.Client(testenv.Submitter), env.Client(testenv.Responder)
	var ids []string
	for i := range 6 {
		p := &mvmv1.TargetPackage{Header: mvmclient.NewHeader(), Locations: []*mvmv1.Location{{Lat: float64(i), Lon: 2}}, Summary: "site"}
		if _, err := pk.Append(ctx, p); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, p.Header.MessageId)
	}
	for _, id := range ids[:4] {
		if _, err := af.Append(ctx, &mvmv1.Acknowledgement{Header: mvmclient.NewHeader(), PackageId: id}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := af.Append(ctx, &mvmv1.ActionReport{Header: mvmclient.NewHeader(), PackageId: ids[0],
		Outcome: mvmv1.Outcome_OUTCOME_DECLINED, ActionTime: timestamppb.Now(), Note: "outside our jurisdiction"}); err != nil {
		t.Fatal(err)
	}
	env.Stop()

	st, err := store.Open(env.DB, store.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	l := &logFile{certs: map[string][]byte{}}
	size, err := st.Size()
	if err != nil || size != 12 {
		t.Fatalf("log of %d entries (%v), want 12", size, err)
	}
	for i := range size {
		leaf, err := st.Leaf(i)
		if err != nil {
			t.Fatal(err)
		}
		l.leaves = append(l.leaves, bytes.Clone(leaf))
		if e, _ := entry.DecodeLeaf(leaf); i > 0 {
			der, err := st.Certificate(e.PeerCertificateSha256)
			if err != nil {
				t.Fatal(err)
			}
			l.certs[string(e.PeerCertificateSha256)] = bytes.Clone(der)
		}
	}
	_, signed, err := st.LatestCheckpoint()
	if err != nil {
		t.Fatal(err)
	}
	vkey, err := os.ReadFile(filepath.Join(env.Certs, "log.vkey"))
	if err != nil {
		t.Fatal(err)
	}
	v, err := note.NewVerifier(strings.TrimSpace(string(vkey)))
	if err != nil {
		t.Fatal(err)
	}
	if l.cp, _, err = tlog.OpenCheckpoint(signed, v.Name(), v); err != nil {
		t.Fatal(err)
	}
	if l.genesis, err = os.ReadFile(filepath.Join(env.Certs, "agreement.envelope")); err != nil {
		t.Fatal(err)
	}
	return l
}

func (l *logFile) options(bounded bool, dir string) verify.Options {
	return verify.Options{Genesis: l.genesis, Bounded: bounded, TempDir: dir, Workers: 2,
		Certificate: func(sha []byte) ([]byte, error) {
			if c, ok := l.certs[string(sha)]; ok {
				return c, nil
			}
			return nil, errors.New("no such certificate")
		}}
}

// run verifies the whole log at once.
func (l *logFile) run(t *testing.T, o verify.Options) *verify.Report {
	t.Helper()
	v, err := verify.New(o)
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	if err := v.Push(l.leaves...); err != nil {
		t.Fatal(err)
	}
	if err := v.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := v.CheckCheckpoint(l.cp); err != nil {
		t.Fatalf("CheckCheckpoint: %v", err)
	}
	rep, err := v.Finish(time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

// same fails unless two reports say the same.
func same(t *testing.T, got, want *verify.Report) {
	t.Helper()
	if got.Entries != want.Entries || !bytes.Equal(got.Root, want.Root) || !got.LastTime.Equal(want.LastTime) ||
		got.PackageCount != want.PackageCount || got.BreachCount != want.BreachCount ||
		len(got.Agreements) != len(want.Agreements) || got.Agreement.Index != want.Agreement.Index ||
		!slices.Equal(got.SignedBeforeRevocation, want.SignedBeforeRevocation) {
		t.Fatalf("report: got %+v, want %+v", got, want)
	}
	if len(got.Packages) != len(want.Packages) {
		t.Fatalf("packages: got %d, want %d", len(got.Packages), len(want.Packages))
	}
	for id, p := range want.Packages {
		if q := got.Packages[id]; q == nil || !bytes.Equal(q.AppendCompact(nil), p.AppendCompact(nil)) {
			t.Errorf("package %s: got %+v, want %+v", id, q, p)
		}
	}
}

func TestVerifyDatabaseFile(t *testing.T) {
	l := newLog(t)
	rep := l.run(t, l.options(false, ""))
	if rep.Entries != 12 || rep.PackageCount != 6 || !bytes.Equal(rep.Root, l.cp.Hash) {
		t.Fatalf("report: %+v", rep)
	}
	if p := rep.Packages[rep.Packages[firstID(rep)].ID]; p == nil {
		t.Fatal("no package state")
	}
	brep := l.run(t, l.options(true, t.TempDir()))
	if brep.PackageCount != 6 || !bytes.Equal(brep.Root, rep.Root) {
		t.Fatalf("bounded report: %+v", brep)
	}
}

func firstID(r *verify.Report) string {
	for id := range r.Packages {
		return id
	}
	return ""
}

// resumeAt verifies the first n entries, saves, resumes from the bytes
// and verifies the rest.
func (l *logFile) resumeAt(t *testing.T, n int, o verify.Options) (*verify.Report, []byte) {
	t.Helper()
	v, err := verify.New(o)
	if err != nil {
		t.Fatal(err)
	}
	if err := v.Push(l.leaves[:n]...); err != nil {
		t.Fatal(err)
	}
	var state bytes.Buffer
	if err := v.Save(&state); err != nil {
		t.Fatalf("Save: %v", err)
	}
	v.Close()
	r, err := verify.Resume(bytes.NewReader(state.Bytes()), o)
	if err != nil {
		t.Fatalf("Resume: %v", err)
	}
	defer r.Close()
	if r.Size() != uint64(n) {
		t.Fatalf("resumed at %d entries, want %d", r.Size(), n)
	}
	if err := r.Push(l.leaves[n:]...); err != nil {
		t.Fatalf("after resuming at %d: %v", n, err)
	}
	if err := r.Flush(); err != nil {
		t.Fatalf("after resuming at %d: %v", n, err)
	}
	if err := r.CheckCheckpoint(l.cp); err != nil {
		t.Fatalf("after resuming at %d: %v", n, err)
	}
	rep, err := r.Finish(time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	return rep, state.Bytes()
}

// TestSaveResume: verifying n entries, saving, resuming and verifying the
// rest is verifying all at once, wherever n falls, in the heap or bounded.
func TestSaveResume(t *testing.T) {
	l := newLog(t)
	for _, bounded := range []bool{false, true} {
		o := l.options(bounded, t.TempDir())
		want := l.run(t, o)
		for _, n := range []int{0, 1, 2, 7, 11, 12} {
			got, _ := l.resumeAt(t, n, o)
			same(t, got, want)
		}
	}
}

// TestResumeRefuses: a saved state that is damaged, edited, of another
// version or saved under other trust is refused, and the resumed verifier
// still refuses what the saved part rules out.
func TestResumeRefuses(t *testing.T) {
	l := newLog(t)
	o := l.options(false, "")
	_, state := l.resumeAt(t, 8, o)
	flip := func(i int) []byte {
		b := bytes.Clone(state)
		b[i] ^= 1
		return b
	}
	otherGenesis := o
	otherGenesis.Genesis = []byte("another genesis")
	for _, tt := range []struct {
		name  string
		state []byte
		o     verify.Options
	}{
		{"empty", nil, o},
		{"not a state", []byte("hello"), o},
		{"another version", flip(len("mvm-verifier-state\n")), o},
		{"a bit flipped in the count", flip(len("mvm-verifier-state\n") + 1 + 33), o},
		{"a bit flipped in a package", flip(len(state) - 40), o},
		{"a bit flipped in the checksum", flip(len(state) - 1), o},
		{"truncated", state[:len(state)-1], o},
		{"longer", append(bytes.Clone(state), 0), o},
		{"another genesis", state, otherGenesis},
	} {
		t.Run(tt.name, func(t *testing.T) {
			v, err := verify.Resume(bytes.NewReader(tt.state), tt.o)
			if !errors.Is(err, verify.ErrState) {
				t.Fatalf("Resume: got %v, want ErrState", err)
			}
			if v != nil {
				t.Fatal("Resume returned a verifier with an error")
			}
		})
	}

	// An entry whose message id was used before the save: the envelope of
	// entry 1 again, as entry 8.
	v, err := verify.Resume(bytes.NewReader(state), o)
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	e1, _ := entry.DecodeLeaf(l.leaves[1])
	e7, _ := entry.DecodeLeaf(l.leaves[7])
	again, err := entry.NewLeaf(8, e7.ReceivedAt.AsTime(), e1.Envelope, e1.PeerCertificateSha256)
	if err != nil {
		t.Fatal(err)
	}
	err = v.Push(again)
	if err == nil {
		err = v.Flush()
	}
	var ee *verify.EntryError
	if !errors.As(err, &ee) || ee.Index != 8 || !strings.Contains(err.Error(), "already used at index 1") {
		t.Fatalf("a message id reused across the save: got %v", err)
	}
}

// TestFork: a checkpoint the entries do not hash to is refused, at its
// size, whether it is checked now or expected later.
func TestFork(t *testing.T) {
	l := newLog(t)
	o := l.options(false, "")
	other := &tlog.Checkpoint{Origin: l.cp.Origin, Size: l.cp.Size, Hash: bytes.Repeat([]byte{1}, 32)}

	v, err := verify.New(o)
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	if err := v.Push(l.leaves...); err != nil {
		t.Fatal(err)
	}
	if err := v.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := v.CheckCheckpoint(other); !errors.Is(err, verify.ErrForked) {
		t.Errorf("CheckCheckpoint of another root: got %v, want ErrForked", err)
	}
	if err := v.CheckCheckpoint(&tlog.Checkpoint{Size: 5, Hash: l.cp.Hash}); err == nil {
		t.Errorf("CheckCheckpoint of another size: accepted")
	}
	if err := v.CheckCheckpoint(l.cp); err != nil {
		t.Errorf("CheckCheckpoint of the log's own: %v", err)
	}

	// Expected before the entries come: the run fails at that size.
	for _, size := range []uint64{1, 5, 12} {
		v, err := verify.New(o)
		if err != nil {
			t.Fatal(err)
		}
		defer v.Close()
		if err := v.ExpectRoot(size, bytes.Repeat([]byte{2}, 32)); err != nil {
			t.Fatal(err)
		}
		err = v.Push(l.leaves...)
		if err == nil {
			err = v.Flush()
		}
		var ee *verify.EntryError
		if !errors.Is(err, verify.ErrForked) || !errors.As(err, &ee) || ee.Index != size-1 {
			t.Errorf("expected root at %d: got %v", size, err)
		}
	}
	// The right root expected, saved and resumed: accepted.
	v, err = verify.New(o)
	if err != nil {
		t.Fatal(err)
	}
	if err := v.ExpectRoot(l.cp.Size, l.cp.Hash); err != nil {
		t.Fatal(err)
	}
	if err := v.Push(l.leaves[:3]...); err != nil {
		t.Fatal(err)
	}
	var state bytes.Buffer
	if err := v.Save(&state); err != nil {
		t.Fatal(err)
	}
	v.Close()
	r, err := verify.Resume(&state, o)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if err := r.ExpectRoot(2, l.cp.Hash); err == nil {
		t.Errorf("ExpectRoot of a size passed: accepted")
	}
	if err := r.Push(l.leaves[3:]...); err != nil {
		t.Fatal(err)
	}
	if err := r.Flush(); err != nil {
		t.Fatal(err)
	}
}

// replant is the leaf at index i holding the signed envelope of leaf from
// (its signer too), with leaf i's receive time: every signature verifies,
// only what the log's order means is wrong.
func (l *logFile) replant(t *testing.T, i, from int) []byte {
	t.Helper()
	at, err := entry.DecodeLeaf(l.leaves[i])
	if err != nil {
		t.Fatal(err)
	}
	src, err := entry.DecodeLeaf(l.leaves[from])
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := entry.NewLeaf(uint64(i), at.ReceivedAt.AsTime(), src.Envelope, src.PeerCertificateSha256)
	if err != nil {
		t.Fatal(err)
	}
	return leaf
}

// TestKeepGoing: with OnFault, every damaged entry is reported with its
// index, in log order, and the run goes on to the end; the tree is of the
// leaves given. Without it, the same log fails at the first of them.
func TestKeepGoing(t *testing.T) {
	l := newLog(t)
	cases := []struct {
		name   string
		damage map[int][]byte
		want   map[uint64]string // faults that must be reported, by index
	}{
		{"message id reused", map[int][]byte{7: l.replant(t, 7, 2)},
			map[uint64]string{7: "already used at index 2"}},
		{"workflow", map[int][]byte{1: l.replant(t, 1, 7)},
			map[uint64]string{1: "workflow refuses it"}},
		{"leaf and signer", map[int][]byte{3: []byte("not a leaf"), 9: l.replant(t, 9, 0)},
			map[uint64]string{3: "decode leaf", 9: "peer certificate fingerprint missing"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			leaves := slices.Clone(l.leaves)
			for i, b := range tc.damage {
				leaves[i] = b
			}
			for _, bounded := range []bool{false, true} {
				var faults []*verify.EntryError
				var visited []uint64
				o := l.options(bounded, t.TempDir())
				o.OnFault = func(e *verify.EntryError) { faults = append(faults, e) }
				o.Visit = func(i uint64, _ *entry.Opened) error { visited = append(visited, i); return nil }
				v, err := verify.New(o)
				if err != nil {
					t.Fatal(err)
				}
				if err := v.Push(leaves...); err != nil {
					t.Fatalf("keep-going Push: %v", err)
				}
				if err := v.Save(io.Discard); err == nil {
					t.Error("a keep-going verifier saved its state")
				}
				rep, err := v.Finish(time.Time{})
				if err != nil {
					t.Fatalf("keep-going Finish: %v", err)
				}
				tree, _ := tlog.NewTree(0, nil)
				for _, leaf := range leaves {
					_ = tree.Append(tlog.LeafHash(leaf), nil)
				}
				root, _ := tree.Root()
				if rep.Entries != 12 || !bytes.Equal(rep.Root, root) || len(visited) != 12 || rep.Faults != uint64(len(faults)) {
					t.Errorf("entries %d, root %x (want %x), visited %v, faults %d/%d", rep.Entries, rep.Root, root, visited, rep.Faults, len(faults))
				}
				got := map[uint64]string{}
				for j, f := range faults {
					if j > 0 && f.Index <= faults[j-1].Index {
						t.Errorf("faults out of order: %v", faults)
					}
					got[f.Index] = f.Err.Error()
				}
				for i, w := range tc.want {
					if !strings.Contains(got[i], w) {
						t.Errorf("fault at %d: got %q, want it to mention %q (all: %v)", i, got[i], w, got)
					}
				}
			}
			v, err := verify.New(l.options(false, ""))
			if err != nil {
				t.Fatal(err)
			}
			defer v.Close()
			err = v.Push(leaves...)
			if err == nil {
				err = v.Flush()
			}
			var ee *verify.EntryError
			first := slices.Min(slices.Collect(maps.Keys(tc.want)))
			if !errors.As(err, &ee) || ee.Index != first {
				t.Errorf("without OnFault: %v, want the entry %d", err, first)
			}
		})
	}
}

// TestMembers: the package members (Options.Members) a resumed verifier
// knows are those of one run over the whole log, for a full verifier and
// one of the agreements only; a state resumes only a verifier of its own
// kind, and members that do not fit the log are refused even under a
// valid checksum.
func TestMembers(t *testing.T) {
	l := newLog(t)
	for _, agreementsOnly := range []bool{false, true} {
		o := l.options(false, "")
		o.Members, o.AgreementsOnly = true, agreementsOnly
		want := l.run(t, o)
		if len(want.Members) != 6 || !slices.Equal(want.Members[firstPackage(t, l)], []uint64{1, 7, 11}) {
			t.Fatalf("members of one run: %v", want.Members)
		}
		for _, n := range []int{0, 1, 7, 12} {
			got, state := l.resumeAt(t, n, o)
			if !maps.EqualFunc(got.Members, want.Members, slices.Equal) {
				t.Errorf("agreements only %v, resumed at %d: members %v, want %v", agreementsOnly, n, got.Members, want.Members)
			}
			other := o
			other.AgreementsOnly = !agreementsOnly
			if _, err := verify.Resume(bytes.NewReader(state), other); !errors.Is(err, verify.ErrState) || !strings.Contains(err.Error(), "another kind") {
				t.Errorf("a state resumed by a verifier of another kind: %v", err)
			}
			other = o
			other.Members = false
			if _, err := verify.Resume(bytes.NewReader(state), other); !errors.Is(err, verify.ErrState) {
				t.Errorf("a state with members resumed without: %v", err)
			}
		}
	}
	// Members beyond the log, under a checksum recomputed: refused.
	o := l.options(false, "")
	o.Members, o.AgreementsOnly = true, true
	_, state := l.resumeAt(t, 7, o)
	body := bytes.Clone(state[:len(state)-32])
	body[len(body)-1] = 0x7f // the last delta of the last package
	sum := sha256.Sum256(body)
	if _, err := verify.Resume(bytes.NewReader(append(body, sum[:]...)), o); !errors.Is(err, verify.ErrState) || !strings.Contains(err.Error(), "beyond the log") {
		t.Errorf("members beyond the log: %v", err)
	}
}

// firstPackage is the id of the package of entry 1.
func firstPackage(t *testing.T, l *logFile) string {
	t.Helper()
	o, err := entry.Open(l.leaves[1])
	if err != nil {
		t.Fatal(err)
	}
	return message.PackageID(o.Payload)
}

// TestResumeVersion1: a state saved in format 1 (before the verifier's
// kind was saved: a full verifier's, no members) still resumes a full
// verifier, and only one.
func TestResumeVersion1(t *testing.T) {
	l := newLog(t)
	o := l.options(false, "")
	_, state := l.resumeAt(t, 7, o)
	body := bytes.Clone(state[:len(state)-32])
	if body[len("mvm-verifier-state\n")] != 2 || body[len(body)-1] != 0 {
		t.Fatalf("not a format 2 state of a full verifier without members")
	}
	body[len("mvm-verifier-state\n")] = 1
	body = body[:len(body)-1] // the kind
	sum := sha256.Sum256(body)
	v1 := append(body, sum[:]...)
	v, err := verify.Resume(bytes.NewReader(v1), o)
	if err != nil {
		t.Fatalf("a format 1 state: %v", err)
	}
	if err := v.Push(l.leaves[7:]...); err != nil {
		t.Fatal(err)
	}
	err = v.Flush()
	if err == nil {
		err = v.CheckCheckpoint(l.cp)
	}
	v.Close()
	if err != nil {
		t.Fatalf("resumed from format 1: %v", err)
	}
	members := o
	members.Members = true
	if _, err := verify.Resume(bytes.NewReader(v1), members); !errors.Is(err, verify.ErrState) {
		t.Errorf("a format 1 state resumed a verifier of members: %v", err)
	}
}
