package service_test

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/mvm-exchange/mvm/internal/audit"
	"github.com/mvm-exchange/mvm/internal/entry"
	"github.com/mvm-exchange/mvm/internal/tlog"
	mvmv1 "github.com/mvm-exchange/mvm/proto/mvm/v1"
)

// leaves reads the whole log [0, size) over the wire.
func (f *fixture) leaves(t *testing.T, size uint64) [][]byte {
	t.Helper()
	var out [][]byte
	if err := f.tr().Entries(ctxT(t), 0, size, func(_ uint64, leaf []byte) error {
		out = append(out, leaf)
		return nil
	}); err != nil {
		t.Fatalf("GetEntries: %v", err)
	}
	return out
}

// ---------------------------------------------------------------------------
// 9. Restart.

func TestRestart(t *testing.T) {
	f := newFixture(t)
	ctx := ctxT(t)
	acked := f.packageIn(t, "acknowledged")
	reported := f.packageIn(t, "action-reported")
	sealed, err := f.pk().Seal(targetPackage())
	if err != nil {
		t.Fatal(err)
	}
	first, err := f.pk().AppendSealed(ctx, sealed)
	if err != nil {
		t.Fatal(err)
	}
	cpBefore, signedBefore := f.checkpoint(t)

	f.env.Restart()
	f.dial(t)

	cpAfter, signedAfter := f.checkpoint(t)
	if cpAfter.Size != cpBefore.Size || !bytes.Equal(cpAfter.Hash, cpBefore.Hash) {
		t.Errorf("checkpoint after restart: got (%d, %x), want (%d, %x)", cpAfter.Size, cpAfter.Hash, cpBefore.Size, cpBefore.Hash)
	}
	if !bytes.Equal(signedAfter, signedBefore) {
		t.Errorf("signed checkpoint after restart: got %q, want %q", signedAfter, signedBefore)
	}
	for _, tc := range []struct{ id, want string }{{acked, "acknowledged"}, {reported, "action-reported"}} {
		if got := f.status(t, tc.id); got != tc.want {
			t.Errorf("status of %s after restart: got %q, want %q", tc.id, got, tc.want)
		}
	}

	// A retry of a pre-restart envelope is answered from the store.
	dup, err := f.pk().AppendSealed(ctx, sealed)
	if err != nil || !dup.Duplicate || dup.Receipt.Index != first.Receipt.Index {
		t.Errorf("retry after restart: got (%v, %v), want duplicate at %d", dup, err, first.Receipt.Index)
	}
	// The workflow state survived: a second ack is still refused, a report
	// is accepted at the next index.
	_, err = f.af().Append(ctx, ack(acked))
	wantCode(t, err, codes.AlreadyExists)
	resp := mustAppend(t, f.af(), report(acked, mvmv1.Outcome_OUTCOME_NO_ACCESS))
	if resp.Receipt.Index != cpBefore.Size {
		t.Errorf("first index after restart: got %d, want %d", resp.Receipt.Index, cpBefore.Size)
	}
	f.verifyReceipt(t, resp.Receipt)
	mustAppend(t, f.pk(), targetPackage())

	cp, _ := f.checkpoint(t)
	if want := cpBefore.Size + 2; cp.Size != want {
		t.Errorf("size: got %d, want %d", cp.Size, want)
	}
	// The new checkpoint extends the one from before the restart.
	proof, err := f.tr().API.GetConsistencyProof(ctx, &mvmv1.GetConsistencyProofRequest{From: cpBefore.Size, To: cp.Size})
	if err != nil {
		t.Fatalf("GetConsistencyProof: %v", err)
	}
	if err := tlog.VerifyConsistency(cpBefore.Size, cp.Size, proof.Hashes, cpBefore.Hash, cp.Hash); err != nil {
		t.Errorf("consistency across restart: %v", err)
	}

	rep, err := audit.Run(ctx, f.tr(), cp.Size, audit.Options{})
	if err != nil {
		t.Fatalf("audit: %v", err)
	}
	if rep.Entries != cp.Size {
		t.Errorf("audited entries: got %d, want %d", rep.Entries, cp.Size)
	}
	if !bytes.Equal(rep.Root, cp.Hash) {
		t.Errorf("audited root: got %x, want the checkpoint's %x", rep.Root, cp.Hash)
	}
	for _, tc := range []struct{ id, want string }{{acked, "action-reported"}, {reported, "action-reported"}} {
		p, ok := rep.Packages[tc.id]
		if !ok {
			t.Errorf("audit: package %s missing", tc.id)
			continue
		}
		if string(p.Status) != tc.want {
			t.Errorf("audit: status of %s: got %q, want %q", tc.id, p.Status, tc.want)
		}
	}
}

// ---------------------------------------------------------------------------
// 10. Watch.

// watch opens a Watch stream from index from and returns a receive
// function with a timeout, and the stream's cancel.
func (f *fixture) watch(t *testing.T, from uint64) (recv func() (*mvmv1.WatchResponse, error), cancel func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(ctxT(t))
	stream, err := f.tr().API.Watch(ctx, &mvmv1.WatchRequest{From: from})
	if err != nil {
		cancel()
		t.Fatalf("Watch: %v", err)
	}
	type got struct {
		m   *mvmv1.WatchResponse
		err error
	}
	ch := make(chan got)
	go func() {
		for {
			m, err := stream.Recv()
			select {
			case ch <- got{m, err}:
			case <-ctx.Done():
				return
			}
			if err != nil {
				return
			}
		}
	}()
	recv = func() (*mvmv1.WatchResponse, error) {
		select {
		case g := <-ch:
			return g.m, g.err
		case <-time.After(3 * time.Second):
			return nil, errors.New("timeout")
		}
	}
	return recv, cancel
}

func TestWatch(t *testing.T) {
	f := newFixture(t)
	start := f.size(t)
	all := f.leaves(t, start)

	recv, cancel := f.watch(t, 0)
	// Appends racing the stream's start are still delivered: Watch starts
	// from an index, not from "now".
	var sent [][]byte
	for range 3 {
		resp := mustAppend(t, f.pk(), targetPackage())
		sent = append(sent, f.verifyReceiptLeaf(t, resp.Receipt))
	}
	want := append(all, sent...)
	for i := range want {
		m, err := recv()
		if err != nil {
			t.Fatalf("recv %d: %v", i, err)
		}
		if m.Index != uint64(i) || !bytes.Equal(m.Leaf, want[i]) {
			t.Fatalf("watch message %d: got index %d (leaf equal %v), want index %d with its leaf", i, m.Index, bytes.Equal(m.Leaf, want[i]), i)
		}
	}
	cancel()

	last := uint64(len(want) - 1)
	recv, cancel = f.watch(t, last+1)
	defer cancel()
	sent = nil
	for range 2 {
		resp := mustAppend(t, f.pk(), targetPackage())
		sent = append(sent, f.verifyReceiptLeaf(t, resp.Receipt))
	}
	for i := range sent {
		m, err := recv()
		if err != nil {
			t.Fatalf("recv after resume %d: %v", i, err)
		}
		if want := last + 1 + uint64(i); m.Index != want || !bytes.Equal(m.Leaf, sent[i]) {
			t.Fatalf("resumed message %d: got index %d (leaf equal %v), want index %d with its receipt's leaf", i, m.Index, bytes.Equal(m.Leaf, sent[i]), want)
		}
		if e, err := entry.DecodeLeaf(m.Leaf); err != nil || e.Index != m.Index {
			t.Fatalf("resumed leaf %d: got (%v, %v), want an entry with index %d", m.Index, e, err, m.Index)
		}
	}
	if m, err := recvWithin(recv, 200*time.Millisecond); err == nil {
		t.Errorf("extra watch message: got index %d, want none", m.Index)
	}

	t.Run("from beyond the log", func(t *testing.T) {
		stream, err := f.tr().API.Watch(ctxT(t), &mvmv1.WatchRequest{From: f.size(t) + 1})
		if err == nil {
			_, err = stream.Recv()
		}
		if got := status.Code(err); got != codes.OutOfRange {
			t.Errorf("code: got %v (%v), want %v", got, err, codes.OutOfRange)
		}
	})
}

// mustPackage submits a package and returns its id.
func mustPackage(t *testing.T, f *fixture) string {
	t.Helper()
	tp := targetPackage()
	mustAppend(t, f.pk(), tp)
	return tp.Header.MessageId
}

func recvWithin(recv func() (*mvmv1.WatchResponse, error), d time.Duration) (*mvmv1.WatchResponse, error) {
	type got struct {
		m   *mvmv1.WatchResponse
		err error
	}
	ch := make(chan got, 1)
	go func() { m, err := recv(); ch <- got{m, err} }()
	select {
	case g := <-ch:
		return g.m, g.err
	case <-time.After(d):
		return nil, errors.New("timeout")
	}
}

// verifyReceiptLeaf verifies a receipt and returns its leaf bytes.
func (f *fixture) verifyReceiptLeaf(t *testing.T, r *mvmv1.Receipt) []byte {
	t.Helper()
	f.verifyReceipt(t, r)
	vr, err := tlog.VerifyReceipt(r.TlogProof, f.v.Name(), f.v)
	if err != nil {
		t.Fatal(err)
	}
	return vr.Leaf
}

// ---------------------------------------------------------------------------
// 11. Inclusion and consistency proofs.

func TestProofs(t *testing.T) {
	f := newFixture(t)
	ctx := ctxT(t)
	api := f.tr().API

	// Signed checkpoints at several sizes, one per committed append.
	type signed struct {
		size uint64
		root []byte
	}
	cp, _ := f.checkpoint(t)
	checkpoints := []signed{{cp.Size, cp.Hash}}
	for range 3 {
		id := mustPackage(t, f)
		mustAppend(t, f.af(), ack(id))
		cp, _ := f.checkpoint(t)
		checkpoints = append(checkpoints, signed{cp.Size, cp.Hash})
	}
	size := checkpoints[len(checkpoints)-1].size
	leaves := f.leaves(t, size)

	// Roots at every size, recomputed from the raw leaves; they must agree
	// with every signed checkpoint.
	roots := make([][]byte, size+1)
	tree, err := tlog.NewTree(0, nil)
	if err != nil {
		t.Fatal(err)
	}
	roots[0] = tlog.EmptyRoot()
	for i, leaf := range leaves {
		if err := tree.Append(tlog.LeafHash(leaf), nil); err != nil {
			t.Fatal(err)
		}
		if roots[i+1], err = tree.Root(); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range checkpoints {
		if !bytes.Equal(roots[c.size], c.root) {
			t.Errorf("root at %d: recomputed %x, signed %x", c.size, roots[c.size], c.root)
		}
	}

	t.Run("inclusion", func(t *testing.T) {
		for n := uint64(1); n <= size; n++ {
			for i := uint64(0); i < n; i++ {
				resp, err := api.GetInclusionProof(ctx, &mvmv1.GetInclusionProofRequest{Index: i, Size: n})
				if err != nil {
					t.Fatalf("GetInclusionProof(%d, %d): %v", i, n, err)
				}
				if err := tlog.VerifyInclusion(tlog.LeafHash(leaves[i]), i, n, resp.Hashes, roots[n]); err != nil {
					t.Errorf("inclusion of %d in %d: %v", i, n, err)
				}
				// The proof is for that leaf only.
				if j := (i + 1) % n; j != i {
					if err := tlog.VerifyInclusion(tlog.LeafHash(leaves[j]), i, n, resp.Hashes, roots[n]); err == nil {
						t.Errorf("inclusion proof of %d in %d also verifies leaf %d", i, n, j)
					}
				}
			}
		}
	})

	t.Run("consistency", func(t *testing.T) {
		for to := uint64(1); to <= size; to++ {
			for from := uint64(0); from <= to; from++ {
				resp, err := api.GetConsistencyProof(ctx, &mvmv1.GetConsistencyProofRequest{From: from, To: to})
				if err != nil {
					t.Fatalf("GetConsistencyProof(%d, %d): %v", from, to, err)
				}
				if err := tlog.VerifyConsistency(from, to, resp.Hashes, roots[from], roots[to]); err != nil {
					t.Errorf("consistency %d → %d: %v", from, to, err)
				}
			}
		}
		// Between the signed checkpoints, with their signed roots.
		a, b := checkpoints[0], checkpoints[len(checkpoints)-1]
		resp, err := api.GetConsistencyProof(ctx, &mvmv1.GetConsistencyProofRequest{From: a.size, To: b.size})
		if err != nil {
			t.Fatal(err)
		}
		if err := tlog.VerifyConsistency(a.size, b.size, resp.Hashes, a.root, b.root); err != nil {
			t.Errorf("consistency of signed checkpoints %d → %d: %v", a.size, b.size, err)
		}
	})

	t.Run("out of range", func(t *testing.T) {
		for _, tc := range []struct {
			name string
			call func() error
		}{
			{"inclusion index = size", func() error {
				_, err := api.GetInclusionProof(ctx, &mvmv1.GetInclusionProofRequest{Index: size, Size: size})
				return err
			}},
			{"inclusion size beyond log", func() error {
				_, err := api.GetInclusionProof(ctx, &mvmv1.GetInclusionProofRequest{Index: 0, Size: size + 1})
				return err
			}},
			{"inclusion size 0", func() error {
				_, err := api.GetInclusionProof(ctx, &mvmv1.GetInclusionProofRequest{Index: 0, Size: 0})
				return err
			}},
			{"consistency from > to", func() error {
				_, err := api.GetConsistencyProof(ctx, &mvmv1.GetConsistencyProofRequest{From: 3, To: 2})
				return err
			}},
			{"consistency to beyond log", func() error {
				_, err := api.GetConsistencyProof(ctx, &mvmv1.GetConsistencyProofRequest{From: 1, To: size + 1})
				return err
			}},
			{"entries beyond log", func() error {
				stream, err := api.GetEntries(ctx, &mvmv1.GetEntriesRequest{Start: 0, End: size + 1})
				if err == nil {
					_, err = stream.Recv()
				}
				return err
			}},
			{"entries start after end", func() error {
				stream, err := api.GetEntries(ctx, &mvmv1.GetEntriesRequest{Start: 2, End: 1})
				if err == nil {
					_, err = stream.Recv()
				}
				return err
			}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				if got := status.Code(tc.call()); got != codes.OutOfRange {
					t.Errorf("code: got %v, want %v", got, codes.OutOfRange)
				}
			})
		}
	})
}

// A server with a watcher connected must still stop promptly: Watch has to
// end when the server shuts down, or graceful stop waits for the whole stop
// deadline (5 s in testenv, 10 s in the server binary) on every shutdown.
// The watcher learns to reconnect and resume from the next index.
func TestStopWithOpenWatch(t *testing.T) {
	f := newFixture(t)
	size := f.size(t)
	recv, cancel := f.watch(t, 0)
	defer cancel()
	for i := range size {
		if _, err := recv(); err != nil {
			t.Fatalf("recv %d: %v", i, err)
		}
	}

	start := time.Now()
	f.env.Restart()
	if took, limit := time.Since(start), 2*time.Second; took > limit {
		t.Errorf("restart with an open Watch: took %v, want under %v", took.Round(time.Millisecond), limit)
	}
	_, err := recv()
	if got := status.Code(err); got != codes.Unavailable {
		t.Errorf("watch at shutdown: code got %v (%v), want %v", got, err, codes.Unavailable)
	}

	// Resume against the restarted server.
	f.dial(t)
	recv, cancel2 := f.watch(t, size)
	defer cancel2()
	resp := mustAppend(t, f.pk(), targetPackage())
	m, err := recv()
	if err != nil || m.Index != resp.Receipt.Index {
		t.Errorf("resumed watch: got (%v, %v), want index %d", m.GetIndex(), err, resp.Receipt.Index)
	}
}
