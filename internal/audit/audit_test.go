package audit_test

// The auditor against a real exchange: a testenv server on loopback with
// real mutual TLS and a real bbolt file, entries signed by the dev
// identities. The auditor reads the log over the wire through a small
// Source written here (GetEntries + GetCertificates), or from a bundle file.

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/pem"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
	"golang.org/x/mod/sumdb/note"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/mvm-exchange/mvm/client/mvmclient"
	"github.com/mvm-exchange/mvm/internal/audit"
	"github.com/mvm-exchange/mvm/internal/entry"
	"github.com/mvm-exchange/mvm/internal/envelope"
	"github.com/mvm-exchange/mvm/internal/message"
	"github.com/mvm-exchange/mvm/internal/testenv"
	"github.com/mvm-exchange/mvm/internal/tlog"
	"github.com/mvm-exchange/mvm/internal/workflow"
	mvmv1 "github.com/mvm-exchange/mvm/proto/mvm/v1"
)

// ---------------------------------------------------------------------------
// Fixture.

type exchange struct {
	env             *testenv.Env
	pk, af, tr, qa  *mvmclient.Client
	v               note.Verifier
	pkgs            map[string]string // package id -> expected status
	ackOf, reportOf map[string]uint64 // package id -> index of its ack / report
	order           []string          // package ids in submission order
	size            uint64            // log size after populate
	appended        uint64            // successful appends
}

func newExchange(t *testing.T) *exchange {
	t.Helper()
	x := &exchange{env: testenv.New(t), pkgs: map[string]string{}, ackOf: map[string]uint64{}, reportOf: map[string]uint64{}}
	b, err := os.ReadFile(filepath.Join(x.env.Certs, "log.vkey"))
	if err != nil {
		t.Fatal(err)
	}
	if x.v, err = note.NewVerifier(strings.TrimSpace(string(b))); err != nil {
		t.Fatal(err)
	}
	x.dial()
	return x
}

func (x *exchange) dial() {
	x.pk = x.env.Client(testenv.Submitter)
	x.af = x.env.Client(testenv.Responder)
	x.tr = x.env.Client(testenv.Mediator)
	x.qa = x.env.Client(testenv.Mediator2)
}

// restart stops the server, runs fn on the stopped database file, starts a
// new server on it and redials.
func (x *exchange) restart(t *testing.T, fn func()) {
	t.Helper()
	x.env.Stop()
	if fn != nil {
		fn()
	}
	x.env = testenv.Start(t, x.env.Certs, x.env.DB)
	x.dial()
}

func ctxT(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func (x *exchange) add(t *testing.T, c *mvmclient.Client, m proto.Message) uint64 {
	t.Helper()
	resp, err := c.Append(ctxT(t), m)
	if err != nil {
		t.Fatalf("append %s as %s: %v", m.ProtoReflect().Descriptor().Name(), c.ID, err)
	}
	x.appended++
	return resp.Receipt.Index
}

func hdr() *mvmv1.Header { return mvmclient.NewHeader() }

func dig(s string) []byte { d := sha256.Sum256([]byte(s)); return d[:] }

func target(summary string) *mvmv1.TargetPackage {
	return &mvmv1.TargetPackage{Header: hdr(),
		Locations:      []*mvmv1.Location{{Lat: 34.0151, Lon: 71.5249, PrecisionM: 50, Description: "compound"}},
		SuspectedGroup: "group", Summary: summary, Priority: mvmv1.Priority_PRIORITY_HIGH, Tlp: mvmv1.Tlp_TLP_AMBER}
}

func ackMsg(id string) *mvmv1.Acknowledgement {
	return &mvmv1.Acknowledgement{Header: hdr(), PackageId: id}
}

func reportMsg(id string, o mvmv1.Outcome, evidence ...[]byte) *mvmv1.ActionReport {
	return &mvmv1.ActionReport{Header: hdr(), PackageId: id, Outcome: o, ActionTime: timestamppb.Now(),
		Counts: &mvmv1.ActionCounts{Arrested: 1}, EvidenceSha256: evidence}
}

func findingMsg(id string, v mvmv1.Verdict) *mvmv1.VerificationFinding {
	return &mvmv1.VerificationFinding{Header: hdr(), PackageId: id, Verdict: v, Reason: "site visit"}
}

func rulingMsg(id, decision string) *mvmv1.Ruling {
	return &mvmv1.Ruling{Header: hdr(), PackageId: id, Decision: decision}
}

// populate builds a log of 50 entries (genesis included) with packages in
// every status (52 entries, genesis included).
func (x *exchange) populate(t *testing.T) {
	t.Helper()
	ids := make([]string, 15)
	for i := range ids {
		tp := target("package " + string(rune('a'+i)))
		ids[i] = tp.Header.MessageId
		x.add(t, x.pk, tp)
		x.order = append(x.order, ids[i])
		x.pkgs[ids[i]] = "submitted"
	}
	ack := func(i int) { x.ackOf[ids[i]] = x.add(t, x.af, ackMsg(ids[i])); x.pkgs[ids[i]] = "acknowledged" }
	for i := 1; i < 15; i++ {
		if i != 7 {
			ack(i)
		}
	}
	// A refused append changes nothing (not in the log, not in the count).
	if _, err := x.af.Append(ctxT(t), ackMsg(ids[1])); err == nil {
		t.Fatal("a second acknowledgement was accepted")
	}
	// 2: two requests, one answered -> information-requested.
	x.add(t, x.af, &mvmv1.RequestForInformation{Header: hdr(), PackageId: ids[2], Question: "which building?"})
	x.add(t, x.af, &mvmv1.RequestForInformation{Header: hdr(), PackageId: ids[2], Question: "which floor?"})
	x.add(t, x.pk, &mvmv1.InformationResponse{Header: hdr(), PackageId: ids[2], Answer: "the blue one"})
	x.pkgs[ids[2]] = "information-requested"
	// 3: one request answered -> acknowledged.
	x.add(t, x.af, &mvmv1.RequestForInformation{Header: hdr(), PackageId: ids[3], Question: "which street?"})
	x.add(t, x.pk, &mvmv1.InformationResponse{Header: hdr(), PackageId: ids[3], Answer: "the market"})
	// 4: raid without evidence -> evidence deadline open.
	x.reportOf[ids[4]] = x.add(t, x.af, reportMsg(ids[4], mvmv1.Outcome_OUTCOME_RAID_CONDUCTED))
	x.pkgs[ids[4]] = "action-reported"
	// 5: raid with evidence, confirmed -> verified.
	x.add(t, x.af, reportMsg(ids[5], mvmv1.Outcome_OUTCOME_RAID_CONDUCTED, dig("photo 5")))
	x.add(t, x.tr, findingMsg(ids[5], mvmv1.Verdict_VERDICT_CONFIRMED))
	x.pkgs[ids[5]] = "verified"
	// 6: not found, contradicted, disputed, ruled by both mediators.
	x.add(t, x.af, reportMsg(ids[6], mvmv1.Outcome_OUTCOME_NOT_FOUND))
	x.add(t, x.qa, findingMsg(ids[6], mvmv1.Verdict_VERDICT_CONTRADICTED))
	x.add(t, x.af, &mvmv1.Dispute{Header: hdr(), PackageId: ids[6], Reason: "we searched"})
	x.add(t, x.tr, rulingMsg(ids[6], "upheld"))
	x.add(t, x.qa, rulingMsg(ids[6], "upheld"))
	x.pkgs[ids[6]] = "ruled"
	// 7: withdrawn before acknowledgement.
	x.add(t, x.pk, &mvmv1.Withdrawal{Header: hdr(), PackageId: ids[7], Reason: "stale"})
	x.pkgs[ids[7]] = "withdrawn"
	// 8: destroyed, evidence later, disputed by pk, rulings disagree.
	x.add(t, x.af, reportMsg(ids[8], mvmv1.Outcome_OUTCOME_SITE_DESTROYED))
	x.add(t, x.af, &mvmv1.EvidenceSubmission{Header: hdr(), PackageId: ids[8], EvidenceSha256: [][]byte{dig("photo 8")}})
	x.add(t, x.pk, &mvmv1.Dispute{Header: hdr(), PackageId: ids[8], Reason: "wrong site"})
	x.add(t, x.tr, rulingMsg(ids[8], "upheld"))
	x.add(t, x.qa, rulingMsg(ids[8], "dismissed"))
	x.pkgs[ids[8]] = "disputed"
	// 9: arrests, inconclusive.
	x.add(t, x.af, reportMsg(ids[9], mvmv1.Outcome_OUTCOME_ARRESTS))
	x.add(t, x.tr, findingMsg(ids[9], mvmv1.Verdict_VERDICT_INCONCLUSIVE))
	x.pkgs[ids[9]] = "action-reported"
	// 10: declined.
	x.add(t, x.af, &mvmv1.ActionReport{Header: hdr(), PackageId: ids[10], Outcome: mvmv1.Outcome_OUTCOME_DECLINED,
		ActionTime: timestamppb.Now(), Note: "outside our jurisdiction"})
	x.pkgs[ids[10]] = "action-reported"
	// 11: a report after an answered request (for the replay test: its ack
	// is followed by other entries, then its report).
	x.reportOf[ids[11]] = x.add(t, x.af, reportMsg(ids[11], mvmv1.Outcome_OUTCOME_NO_ACCESS))
	x.pkgs[ids[11]] = "action-reported"

	cp, _ := x.checkpoint(t)
	x.size = cp.Size
	if x.size != 1+x.appended || x.size < 50 {
		t.Fatalf("populated log has %d entries, want 1 + %d appended (at least 50)", x.size, x.appended)
	}
}

// checkpoint fetches the latest signed checkpoint and opens it with the
// pinned log key.
func (x *exchange) checkpoint(t *testing.T) (*tlog.Checkpoint, []byte) {
	t.Helper()
	resp, err := x.tr.API.GetCheckpoint(ctxT(t), &mvmv1.GetCheckpointRequest{})
	if err != nil {
		t.Fatalf("GetCheckpoint: %v", err)
	}
	cp, _, err := tlog.OpenCheckpoint(resp.Checkpoint, x.v.Name(), x.v)
	if err != nil {
		t.Fatalf("OpenCheckpoint: %v", err)
	}
	return cp, resp.Checkpoint
}

func (x *exchange) audit(t *testing.T, o audit.Options) (*audit.Report, error) {
	t.Helper()
	cp, _ := x.checkpoint(t)
	return run(t, x.tr, cp.Size, o)
}

// leaves downloads every leaf of the log.
func (x *exchange) leaves(t *testing.T) [][]byte {
	t.Helper()
	var out [][]byte
	err := x.tr.Entries(ctxT(t), 0, x.size, func(_ uint64, leaf []byte) error {
		out = append(out, bytes.Clone(leaf))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// wantEntryError fails unless err is an *audit.EntryError naming index.
func wantEntryError(t *testing.T, err error, index uint64, substr string) {
	t.Helper()
	var ee *audit.EntryError
	if !errors.As(err, &ee) {
		t.Fatalf("audit error: got %v, want an *audit.EntryError for entry %d", err, index)
	}
	if ee.Index != index {
		t.Fatalf("audit error names entry %d (%v), want entry %d", ee.Index, err, index)
	}
	if substr != "" && !strings.Contains(err.Error(), substr) {
		t.Errorf("audit error %q does not mention %q", err, substr)
	}
}

// ---------------------------------------------------------------------------
// 1. A clean log: the auditor and the server agree.

func TestAuditCleanLogAgreesWithServer(t *testing.T) {
	x := newExchange(t)
	x.populate(t)
	cp, _ := x.checkpoint(t)

	rep, err := x.audit(t, audit.Options{KeepHistory: true})
	if err != nil {
		t.Fatalf("audit of a clean log: %v", err)
	}
	if rep.Entries != cp.Size {
		t.Errorf("Report.Entries = %d, checkpoint size %d", rep.Entries, cp.Size)
	}
	if !bytes.Equal(rep.Root, cp.Hash) {
		t.Errorf("Report.Root = %x, checkpoint root %x", rep.Root, cp.Hash)
	}
	if rep.Agreement == nil || rep.Agreement.RulingQuorum != 2 {
		t.Errorf("Report.Agreement = %+v, want the dev agreement (ruling quorum 2)", rep.Agreement)
	}
	last := x.leaves(t)[cp.Size-1]
	if e, _ := entry.DecodeLeaf(last); !rep.LastTime.Equal(e.ReceivedAt.AsTime()) {
		t.Errorf("Report.LastTime = %v, last entry received %v", rep.LastTime, e.ReceivedAt.AsTime())
	}

	// Packages: the same set, and each the same as GetPackage says.
	if len(rep.Packages) != len(x.pkgs) {
		t.Errorf("Report.Packages has %d packages, want %d", len(rep.Packages), len(x.pkgs))
	}
	list, err := x.tr.API.ListPackages(ctxT(t), &mvmv1.ListPackagesRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if len(list.Packages) != len(rep.Packages) {
		t.Errorf("server lists %d packages, auditor derived %d", len(list.Packages), len(rep.Packages))
	}
	for _, id := range x.order {
		p := rep.Packages[id]
		if p == nil {
			t.Errorf("package %s: not in the report", id)
			continue
		}
		if string(p.Status) != x.pkgs[id] {
			t.Errorf("package %s: auditor says %s, want %s", id, p.Status, x.pkgs[id])
		}
		resp, err := x.tr.API.GetPackage(ctxT(t), &mvmv1.GetPackageRequest{PackageId: id})
		if err != nil {
			t.Fatalf("GetPackage %s: %v", id, err)
		}
		s := resp.Package
		if s.Status != string(p.Status) || s.Outcome != p.Outcome() || s.Index != p.Index {
			t.Errorf("package %s: server (%s, %q, %d), auditor (%s, %q, %d)", id, s.Status, s.Outcome, s.Index, p.Status, p.Outcome(), p.Index)
		}
		if !slices.Equal(s.OpenRequests, p.OpenRequests()) {
			t.Errorf("package %s: open requests: server %v, auditor %v", id, s.OpenRequests, p.OpenRequests())
		}
		decision := ""
		if p.Dispute != nil {
			decision = p.Dispute.Decision
		}
		if s.Decision != decision {
			t.Errorf("package %s: decision: server %q, auditor %q", id, s.Decision, decision)
		}
		pending := p.PendingRulings()
		if len(s.PendingRulings) != len(pending) {
			t.Errorf("package %s: pending rulings: server %v, auditor %v", id, s.PendingRulings, pending)
		}
		for _, r := range s.PendingRulings {
			if !slices.Equal(r.Mediators, pending[r.Decision]) {
				t.Errorf("package %s: ruling %q signed by %v on the server, %v in the audit", id, r.Decision, r.Mediators, pending[r.Decision])
			}
		}
		if len(s.Findings) != len(p.Findings) {
			t.Errorf("package %s: %d findings on the server, %d in the audit", id, len(s.Findings), len(p.Findings))
		}
		for i := range min(len(s.Findings), len(p.Findings)) {
			sf, af := s.Findings[i], p.Findings[i]
			if sf.FindingId != af.ID || sf.Index != af.Index || sf.Verdict != workflow.VerdictName(af.Verdict) {
				t.Errorf("package %s finding %d: server %v, auditor %+v", id, i, sf, af)
			}
		}
		if len(s.Deadlines) != len(p.Deadlines) {
			t.Errorf("package %s: %d deadlines on the server, %d in the audit", id, len(s.Deadlines), len(p.Deadlines))
			continue
		}
		for i, d := range p.Deadlines {
			sd := s.Deadlines[i]
			met := time.Time{}
			if sd.Met != nil {
				met = sd.Met.AsTime()
			}
			if sd.Name != d.Name || sd.Party != d.Party || !sd.Due.AsTime().Equal(d.Due) || !met.Equal(d.Met) {
				t.Errorf("package %s deadline %d: server %v, auditor %+v", id, i, sd, d)
			}
		}
		var events []uint64
		for _, e := range p.Events {
			events = append(events, e.Index)
		}
		var history []uint64
		for _, h := range resp.History {
			history = append(history, h.Index)
		}
		if !slices.Equal(events, history) {
			t.Errorf("package %s: history: server %v, auditor %v", id, history, events)
		}
	}

	// Package 8's mediators disagree: two decisions pending, one signer each.
	if got := rep.Packages[x.order[8]].PendingRulings(); len(got) != 2 ||
		!slices.Equal(got["upheld"], []string{"tr"}) || !slices.Equal(got["dismissed"], []string{"qa"}) {
		t.Errorf("package 8: pending rulings %v, want upheld by tr and dismissed by qa", got)
	}

	// Breaches, at the same as-of times: the last entry's time (the
	// default), and 36 h and 300 h later, when acknowledgements, action
	// reports and evidence are overdue.
	for _, later := range []time.Duration{0, 36 * time.Hour, 300 * time.Hour} {
		asOf := rep.LastTime.Add(later)
		o := audit.Options{AsOf: asOf}
		if later == 0 {
			o.AsOf = time.Time{} // the default: the last entry's time
		}
		r, err := x.audit(t, o)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := x.tr.API.GetBreaches(ctxT(t), &mvmv1.GetBreachesRequest{AsOf: timestamppb.New(asOf)})
		if err != nil {
			t.Fatal(err)
		}
		if len(resp.Breaches) != len(r.Breaches) {
			t.Errorf("as of +%v: server has %d breaches, auditor %d", later, len(resp.Breaches), len(r.Breaches))
		}
		for i := range min(len(resp.Breaches), len(r.Breaches)) {
			s, a := resp.Breaches[i], r.Breaches[i]
			if s.PackageId != a.PackageID || s.Party != a.Party || s.Deadline != a.Deadline ||
				!s.Due.AsTime().Equal(a.Due) || s.LateSeconds != int64(a.Late/time.Second) {
				t.Errorf("as of +%v breach %d: server %v, auditor %+v", later, i, s, a)
			}
		}
		switch later {
		case 0:
			if len(r.Breaches) != 0 {
				t.Errorf("as of the last entry: %d breaches, want none", len(r.Breaches))
			}
		case 36 * time.Hour:
			// Package 0 was never acknowledged; package 7 was withdrawn in time.
			want := []workflow.Breach{{PackageID: x.order[0], Party: "af", Deadline: workflow.DeadlineAcknowledge}}
			if !sameBreaches(r.Breaches, want) {
				t.Errorf("as of +36h: breaches %+v, want %+v", r.Breaches, want)
			}
		case 300 * time.Hour:
			// Evidence is overdue for package 4 (raid) and 9 (arrests); 5 and
			// 8 brought it; every acknowledged package without a report is
			// past its action-report deadline.
			want := map[string]bool{x.order[0] + " acknowledge": true,
				x.order[4] + " evidence": true, x.order[9] + " evidence": true}
			for _, i := range []int{1, 2, 3, 12, 13, 14} {
				want[x.order[i]+" action-report"] = true
			}
			got := map[string]bool{}
			for _, b := range r.Breaches {
				got[b.PackageID+" "+b.Deadline] = true
				if !b.Open {
					t.Errorf("as of +300h: breach %+v was met late, none was", b)
				}
			}
			if len(got) != len(want) || len(r.Breaches) != len(want) {
				t.Errorf("as of +300h: breaches %v, want %v", got, want)
			}
			for k := range want {
				if !got[k] {
					t.Errorf("as of +300h: missing breach %s", k)
				}
			}
		}
	}
}

func sameBreaches(got, want []workflow.Breach) bool {
	if len(got) != len(want) {
		return false
	}
	for i := range got {
		if got[i].PackageID != want[i].PackageID || got[i].Party != want[i].Party || got[i].Deadline != want[i].Deadline {
			return false
		}
	}
	return true
}

// ---------------------------------------------------------------------------
// 2. Tampering with the stored log.

// editEntry rewrites stored entry index of the bbolt file db (the server
// must be stopped) with edit.
func editEntry(t *testing.T, db string, index uint64, edit func(leaf []byte) []byte) {
	t.Helper()
	b, err := bolt.Open(db, 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	err = b.Update(func(tx *bolt.Tx) error {
		bk := tx.Bucket([]byte("entries"))
		if bk == nil {
			return errors.New("no entries bucket")
		}
		key := binary.BigEndian.AppendUint64(nil, index)
		v := bk.Get(key)
		if v == nil {
			return errors.New("no such entry")
		}
		return bk.Put(key, edit(bytes.Clone(v)))
	})
	if err != nil {
		t.Fatalf("edit entry %d: %v", index, err)
	}
}

// flipEnvelopeByte flips one bit in the middle of the envelope bytes of a
// leaf: the signed part, which the leaf's own encoding does not protect.
func flipEnvelopeByte(t *testing.T, leaf []byte) []byte {
	t.Helper()
	e, err := entry.DecodeLeaf(leaf)
	if err != nil {
		t.Fatal(err)
	}
	off := bytes.Index(leaf, e.Envelope)
	if off < 0 {
		t.Fatal("envelope not found in leaf")
	}
	leaf[off+len(e.Envelope)/2] ^= 0x01
	return leaf
}

func TestAuditTamperedEntry(t *testing.T) {
	x := newExchange(t)
	x.populate(t)
	for _, k := range []uint64{1, 17, 33, x.size - 1} {
		var orig []byte
		x.restart(t, func() {
			editEntry(t, x.env.DB, k, func(leaf []byte) []byte {
				orig = bytes.Clone(leaf)
				return flipEnvelopeByte(t, leaf)
			})
		})
		_, err := x.audit(t, audit.Options{})
		wantEntryError(t, err, k, "")
		t.Logf("flipped entry %d: %v", k, err)

		// Put the byte back: the audit passes again, so it was that byte.
		x.restart(t, func() { editEntry(t, x.env.DB, k, func([]byte) []byte { return orig }) })
		if _, err := x.audit(t, audit.Options{}); err != nil {
			t.Fatalf("after restoring entry %d: %v", k, err)
		}
	}
}

// Fields outside the signed envelope: the receive time and the signer
// certificate fingerprint.
func TestAuditTamperedUnsignedFields(t *testing.T) {
	x := newExchange(t)
	x.populate(t)
	retime := func(k uint64, d time.Duration) {
		x.restart(t, func() {
			editEntry(t, x.env.DB, k, func(leaf []byte) []byte {
				e, err := entry.DecodeLeaf(leaf)
				if err != nil {
					t.Fatal(err)
				}
				out, err := entry.NewLeaf(e.Index, e.ReceivedAt.AsTime().Add(d), e.Envelope, e.PeerCertificateSha256)
				if err != nil {
					t.Fatal(err)
				}
				return out
			})
		})
	}
	// An entry moved an hour back is an hour from the time its author
	// signed: beyond the agreement's clock skew.
	retime(20, -time.Hour)
	_, err := x.audit(t, audit.Options{})
	wantEntryError(t, err, 20, "the agreement allows at most 5m0s of skew")
	retime(20, time.Hour)

	// So is the last entry moved an hour forward.
	retime(x.size-1, time.Hour)
	_, err = x.audit(t, audit.Options{})
	wantEntryError(t, err, x.size-1, "behind the receive time")
	retime(x.size-1, -time.Hour)

	// Moved two minutes forward, within the skew, it breaks no rule: every
	// entry verifies, but the leaves no longer hash to the signed root.
	retime(x.size-1, 2*time.Minute)
	rep, err := x.audit(t, audit.Options{})
	if err != nil {
		t.Fatalf("audit: %v", err)
	}
	if cp, _ := x.checkpoint(t); bytes.Equal(rep.Root, cp.Hash) {
		t.Fatal("a re-timed entry still hashes to the signed checkpoint's root")
	}
	retime(x.size-1, -2*time.Minute)

	// A fingerprint of no stored certificate.
	x.restart(t, func() {
		editEntry(t, x.env.DB, 9, func(leaf []byte) []byte {
			e, _ := entry.DecodeLeaf(leaf)
			sha := bytes.Clone(e.PeerCertificateSha256)
			sha[0] ^= 0xff
			out, _ := entry.NewLeaf(e.Index, e.ReceivedAt.AsTime(), e.Envelope, sha)
			return out
		})
	})
	_, err = x.audit(t, audit.Options{})
	wantEntryError(t, err, 9, "signer certificate")
}

// badCerts serves a certificate other than the one asked for.
type badCerts struct {
	*mvmclient.Client
	edit func(der []byte) []byte
}

func (s badCerts) Certificate(ctx context.Context, sha []byte) ([]byte, error) {
	der, err := s.Client.Certificate(ctx, sha)
	if err != nil {
		return nil, err
	}
	return s.edit(bytes.Clone(der)), nil
}

func TestAuditRejectsCertificateWithWrongHash(t *testing.T) {
	x := newExchange(t)
	x.add(t, x.pk, target("one"))
	x.add(t, x.af, ackMsg(x.firstPackage(t)))
	cp, _ := x.checkpoint(t)
	for name, edit := range map[string]func([]byte) []byte{
		"trailing byte":    func(der []byte) []byte { return append(der, 0) },
		"flipped byte":     func(der []byte) []byte { der[len(der)/2] ^= 1; return der },
		"another identity": func([]byte) []byte { return mustCert(t, x.env.Certs, testenv.Mediator) },
	} {
		t.Run(name, func(t *testing.T) {
			_, err := run(t, badCerts{x.tr, edit}, cp.Size, audit.Options{})
			wantEntryError(t, err, 1, "SHA-256")
		})
	}
	// The same source, honest, passes: the failures above are the
	// certificates'.
	if _, err := run(t, badCerts{x.tr, func(d []byte) []byte { return d }}, cp.Size, audit.Options{}); err != nil {
		t.Fatal(err)
	}
}

// firstPackage returns the id of the package at index 1.
func (x *exchange) firstPackage(t *testing.T) string {
	t.Helper()
	var id string
	err := x.tr.Entries(ctxT(t), 1, 2, func(_ uint64, leaf []byte) error {
		e, err := entry.DecodeLeaf(leaf)
		if err != nil {
			return err
		}
		env, err := envelope.Parse(e.Envelope)
		if err != nil {
			return err
		}
		p, err := message.Decode(env.PayloadType, env.Payload)
		if err != nil {
			return err
		}
		id = message.PackageID(p)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// mustCert reads the DER of a dev identity's certificate.
func mustCert(t *testing.T, dir, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, name+".crt"))
	if err != nil {
		t.Fatal(err)
	}
	blk, _ := pem.Decode(b)
	if blk == nil {
		t.Fatalf("%s.crt: no PEM block", name)
	}
	return blk.Bytes
}
