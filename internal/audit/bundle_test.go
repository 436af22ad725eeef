package audit_test

// Offline bundles, and logs built by hand from real signed leaves: what the
// auditor does when the leaves are not the ones the server logged.

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protodelim"
	"google.golang.org/protobuf/proto"

	"github.com/mvm-exchange/mvm/client/mvmclient"
	"github.com/mvm-exchange/mvm/internal/audit"
	"github.com/mvm-exchange/mvm/internal/entry"
	"github.com/mvm-exchange/mvm/internal/testenv"
	"github.com/mvm-exchange/mvm/internal/tlog"
	"github.com/mvm-exchange/mvm/internal/workflow"
	mvmv1 "github.com/mvm-exchange/mvm/proto/mvm/v1"
)

// certsOf fetches from the server, in order of first use, the signer
// certificates of leaves.
func (x *exchange) certsOf(t *testing.T, leaves [][]byte) [][]byte {
	t.Helper()
	seen := map[string]bool{}
	var out [][]byte
	for _, leaf := range leaves {
		e, err := entry.DecodeLeaf(leaf)
		if err != nil {
			continue // a tampered leaf: its certificate is its neighbours'
		}
		fp := e.PeerCertificateSha256
		if len(fp) == 0 || seen[string(fp)] {
			continue
		}
		seen[string(fp)] = true
		der, err := x.tr.Certificate(ctxT(t), fp)
		if status.Code(err) == codes.NotFound {
			continue // a tampered fingerprint: no such certificate
		}
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, der)
	}
	return out
}

// writeBundle writes leaves with audit.NewBundleWriter, announcing
// len(leaves) entries and the server's signed checkpoint.
func (x *exchange) writeBundle(t *testing.T, path string, leaves [][]byte) {
	t.Helper()
	_, signed := x.checkpoint(t)
	certs := x.certsOf(t, leaves)
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w, err := audit.NewBundleWriter(f, uint64(len(leaves)), signed)
	if err != nil {
		t.Fatal(err)
	}
	for _, leaf := range leaves {
		if err := w.Leaf(leaf); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range certs {
		if err := w.Certificate(c); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

// runBundle opens path and audits the number of entries its header
// announces.
func runBundle(t *testing.T, path string) (*audit.Report, *audit.Bundle, error) {
	t.Helper()
	b, err := audit.OpenBundle(path)
	if err != nil {
		return nil, nil, err
	}
	rep, err := run(t, b, b.Header.Size, audit.Options{})
	return rep, b, err
}

func TestBundleRoundTrip(t *testing.T) {
	x := newExchange(t)
	x.populate(t)
	path := filepath.Join(t.TempDir(), "log.bundle")
	x.writeBundle(t, path, x.leaves(t))

	// Offline from here on: the server is gone.
	x.env.Stop()
	rep, b, err := runBundle(t, path)
	if err != nil {
		t.Fatalf("audit of the bundle: %v", err)
	}
	if b.Header.Format != audit.BundleFormat || b.Header.Size != x.size || rep.Entries != x.size {
		t.Errorf("header %s size %d, audited %d entries; want %s and %d", b.Header.Format, b.Header.Size, rep.Entries, audit.BundleFormat, x.size)
	}
	cp, _, err := tlog.OpenCheckpoint(b.Header.Checkpoint, x.v.Name(), x.v)
	if err != nil {
		t.Fatalf("the bundle's checkpoint: %v", err)
	}
	if cp.Size != x.size || !bytes.Equal(rep.Root, cp.Hash) {
		t.Errorf("bundle checkpoint size %d root %x; audit root %x of %d entries", cp.Size, cp.Hash, rep.Root, x.size)
	}
	for id, want := range x.pkgs {
		if p := rep.Packages[id]; p == nil || string(p.Status) != want {
			t.Errorf("package %s: %v, want %s", id, p, want)
		}
	}
	// Certificates are served by their SHA-256.
	for _, der := range [][]byte{mustCert(t, x.env.Certs, testenv.Submitter), mustCert(t, x.env.Certs, testenv.Responder)} {
		sum := sha256.Sum256(der)
		got, err := b.Certificate(context.Background(), sum[:])
		if err != nil || !bytes.Equal(got, der) {
			t.Errorf("Certificate(%x): %v", sum[:8], err)
		}
	}
	if _, err := b.Certificate(context.Background(), make([]byte, 32)); err == nil {
		t.Error("Certificate of an unknown fingerprint succeeded")
	}
}

func TestBundleWriterCountsLeaves(t *testing.T) {
	var buf bytes.Buffer
	w, err := audit.NewBundleWriter(&buf, 2, []byte("cp"))
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Leaf([]byte("a")); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err == nil {
		t.Error("Close after 1 of 2 announced leaves succeeded")
	}
	if err := w.Leaf([]byte("b")); err != nil {
		t.Fatal(err)
	}
	if err := w.Leaf([]byte("c")); err == nil {
		t.Error("a third leaf in a bundle of 2 was accepted")
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestBundleTruncated(t *testing.T) {
	x := newExchange(t)
	x.populate(t)
	dir := t.TempDir()
	full := filepath.Join(dir, "full.bundle")
	leaves := x.leaves(t)
	x.writeBundle(t, full, leaves)
	data, err := os.ReadFile(full)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := runBundle(t, full); err != nil {
		t.Fatalf("the whole bundle: %v", err)
	}

	// Cut anywhere: inside the header, inside a leaf, at the end of the
	// leaves, inside the certificates, one byte short.
	for _, n := range []int{0, 5, len(data) / 3, len(data) / 2, len(data) - 700, len(data) - 1} {
		cut := filepath.Join(dir, "cut.bundle")
		if err := os.WriteFile(cut, data[:n], 0o600); err != nil {
			t.Fatal(err)
		}
		if _, _, err := runBundle(t, cut); err == nil {
			t.Errorf("a bundle cut to %d of %d bytes audits OK", n, len(data))
		} else {
			t.Logf("cut to %d bytes: %v", n, err)
		}
	}

	// Cut at every record boundary but the end: each record is whole, but
	// leaves or certificates are missing.
	var bounds []int
	r := bytes.NewReader(data)
	for r.Len() > 0 {
		if err := protodelim.UnmarshalFrom(r, &mvmv1.BundleRecord{}); err != nil {
			t.Fatal(err)
		}
		bounds = append(bounds, len(data)-r.Len())
	}
	if len(bounds) < len(leaves)+2 {
		t.Fatalf("%d records in a bundle of %d leaves", len(bounds), len(leaves))
	}
	for _, n := range bounds[:len(bounds)-1] {
		cut := filepath.Join(dir, "boundary.bundle")
		if err := os.WriteFile(cut, data[:n], 0o600); err != nil {
			t.Fatal(err)
		}
		if _, _, err := runBundle(t, cut); err == nil {
			t.Errorf("a bundle cut after a record, at %d of %d bytes, audits OK", n, len(data))
		}
	}

	// Well-formed records, but the last leaf missing (the header still
	// announces it).
	short := filepath.Join(dir, "short.bundle")
	var buf bytes.Buffer
	_, signed := x.checkpoint(t)
	put := func(r *mvmv1.BundleRecord) {
		if _, err := protodelim.MarshalTo(&buf, r); err != nil {
			t.Fatal(err)
		}
	}
	put(&mvmv1.BundleRecord{Record: &mvmv1.BundleRecord_Header{Header: &mvmv1.BundleHeader{
		Format: audit.BundleFormat, Size: uint64(len(leaves)), Checkpoint: signed}}})
	for _, leaf := range leaves[:len(leaves)-1] {
		put(&mvmv1.BundleRecord{Record: &mvmv1.BundleRecord_Leaf{Leaf: leaf}})
	}
	for _, c := range x.certsOf(t, leaves) {
		put(&mvmv1.BundleRecord{Record: &mvmv1.BundleRecord_Certificate{Certificate: c}})
	}
	if err := os.WriteFile(short, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	_, _, err = runBundle(t, short)
	if want := fmt.Sprintf("holds %d leaves, %d wanted", len(leaves)-1, len(leaves)); err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("a bundle one leaf short: %v, want it to fail saying so", err)
	}
}

func TestBundleFlippedLeaf(t *testing.T) {
	x := newExchange(t)
	x.populate(t)
	dir := t.TempDir()
	leaves := x.leaves(t)
	for _, k := range []uint64{1, x.size / 2, x.size - 1} {
		edited := cloneLeaves(leaves)
		edited[k] = flipEnvelopeByte(t, edited[k])
		path := filepath.Join(dir, "flipped.bundle")
		x.writeBundle(t, path, edited)
		_, _, err := runBundle(t, path)
		wantEntryError(t, err, k, "")
	}
}

func cloneLeaves(leaves [][]byte) [][]byte {
	out := make([][]byte, len(leaves))
	for i, l := range leaves {
		out[i] = bytes.Clone(l)
	}
	return out
}

// reindex re-encodes leaf with another index (same time, envelope, signer).
func reindex(t *testing.T, leaf []byte, index uint64) []byte {
	t.Helper()
	e, err := entry.DecodeLeaf(leaf)
	if err != nil {
		t.Fatal(err)
	}
	out, err := entry.NewLeaf(index, e.ReceivedAt.AsTime(), e.Envelope, e.PeerCertificateSha256)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestBundleReplay builds logs the server would never have logged, out of
// real signed entries, and checks that the auditor refuses each at the
// right index, with the workflow reducer where no other check applies.
func TestBundleReplay(t *testing.T) {
	x := newExchange(t)
	x.populate(t)
	dir := t.TempDir()
	leaves := x.leaves(t)
	audit1 := func(t *testing.T, ls [][]byte) error {
		t.Helper()
		path := filepath.Join(dir, strings.ReplaceAll(t.Name(), "/", "_")+".bundle")
		x.writeBundle(t, path, ls)
		_, _, err := runBundle(t, path)
		return err
	}
	last, _ := entry.DecodeLeaf(leaves[len(leaves)-1])
	after := last.ReceivedAt.AsTime().Add(time.Second)
	// leafBy seals m as the dev identity name and makes it the leaf after
	// the last one.
	leafBy := func(t *testing.T, name string, m proto.Message) []byte {
		t.Helper()
		c := map[string]*mvmclient.Client{testenv.Submitter: x.pk, testenv.Responder: x.af}[name]
		raw, err := c.Seal(m)
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(mustCert(t, x.env.Certs, name))
		leaf, err := entry.NewLeaf(x.size, after, raw, sum[:])
		if err != nil {
			t.Fatal(err)
		}
		return leaf
	}

	t.Run("dropped", func(t *testing.T) {
		k := x.size / 2
		ls := append(cloneLeaves(leaves[:k]), cloneLeaves(leaves[k+1:])...)
		wantEntryError(t, audit1(t, ls), k, "claims index")
	})

	t.Run("dropped and re-indexed", func(t *testing.T) {
		// Drop package 11's acknowledgement and close the gap: its action
		// report now comes before any acknowledgement.
		id := x.order[11]
		k, rep := x.ackOf[id], x.reportOf[id]
		ls := cloneLeaves(leaves[:k])
		for i := k + 1; i < uint64(len(leaves)); i++ {
			ls = append(ls, reindex(t, leaves[i], i-1))
		}
		err := audit1(t, ls)
		wantEntryError(t, err, rep-1, "workflow refuses it")
		if !errors.Is(err, workflow.ErrPrecondition) {
			t.Errorf("%v: want workflow.ErrPrecondition", err)
		}
	})

	t.Run("swapped", func(t *testing.T) {
		// Package 4's report before its acknowledgement, indexes fixed.
		id := x.order[4]
		a, r := x.ackOf[id], x.reportOf[id]
		ls := cloneLeaves(leaves)
		ls[a], ls[r] = reindex(t, leaves[r], a), reindex(t, leaves[a], r)
		// The report now sits where the acknowledgement was: either its
		// earlier position breaks receive-time order, or the reducer
		// refuses a report before an acknowledgement. Both at index a.
		wantEntryError(t, audit1(t, ls), a, "")
	})

	t.Run("second acknowledgement", func(t *testing.T) {
		ls := append(cloneLeaves(leaves), leafBy(t, testenv.Responder, ackMsg(x.order[1])))
		err := audit1(t, ls)
		wantEntryError(t, err, x.size, "already acknowledged")
		if !errors.Is(err, workflow.ErrAlreadyExists) {
			t.Errorf("%v: want workflow.ErrAlreadyExists", err)
		}
	})

	t.Run("acknowledgement by the submitter", func(t *testing.T) {
		ls := append(cloneLeaves(leaves), leafBy(t, testenv.Submitter, ackMsg(x.order[0])))
		err := audit1(t, ls)
		wantEntryError(t, err, x.size, "may not acknowledge")
		if !errors.Is(err, workflow.ErrPermission) {
			t.Errorf("%v: want workflow.ErrPermission", err)
		}
	})

	t.Run("replayed envelope", func(t *testing.T) {
		// Package 0's target package logged a second time.
		e, _ := entry.DecodeLeaf(leaves[1])
		leaf, err := entry.NewLeaf(x.size, after, e.Envelope, e.PeerCertificateSha256)
		if err != nil {
			t.Fatal(err)
		}
		wantEntryError(t, audit1(t, append(cloneLeaves(leaves), leaf)), x.size, "already used at index 1")
	})

	t.Run("valid extension", func(t *testing.T) {
		// The control: a fresh acknowledgement of package 0 extends the log
		// validly, so the refusals above are the reducer's.
		ls := append(cloneLeaves(leaves), leafBy(t, testenv.Responder, ackMsg(x.order[0])))
		if err := audit1(t, ls); err != nil {
			t.Fatal(err)
		}
	})
}

// TestAuditNamesFirstBadEntry: when several entries are bad, the error
// names the first of them in log order, whichever check each one fails.
// An auditor reporting entry 40 while entry 10 is already forged sends the
// investigation to the wrong place.
func TestAuditNamesFirstBadEntry(t *testing.T) {
	x := newExchange(t)
	x.populate(t)
	dir := t.TempDir()
	leaves := x.leaves(t)
	run := func(t *testing.T, ls [][]byte) error {
		t.Helper()
		path := filepath.Join(dir, strings.ReplaceAll(t.Name(), "/", "_")+".bundle")
		x.writeBundle(t, path, ls)
		_, _, err := runBundle(t, path)
		return err
	}
	unknownSigner := func(leaf []byte) []byte {
		e, err := entry.DecodeLeaf(leaf)
		if err != nil {
			t.Fatal(err)
		}
		sha := bytes.Clone(e.PeerCertificateSha256)
		sha[0] ^= 0xff
		out, err := entry.NewLeaf(e.Index, e.ReceivedAt.AsTime(), e.Envelope, sha)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	late := x.size - 5

	t.Run("bad signature, then unknown signer", func(t *testing.T) {
		ls := cloneLeaves(leaves)
		ls[10] = flipEnvelopeByte(t, ls[10])
		ls[late] = unknownSigner(ls[late])
		wantEntryError(t, run(t, ls), 10, "")
	})

	t.Run("bad signature, then undecodable leaf", func(t *testing.T) {
		ls := cloneLeaves(leaves)
		ls[10] = flipEnvelopeByte(t, ls[10])
		ls[late] = []byte("not a leaf")
		wantEntryError(t, run(t, ls), 10, "")
	})

	t.Run("receive time backwards, then bad signature", func(t *testing.T) {
		ls := cloneLeaves(leaves)
		e, _ := entry.DecodeLeaf(ls[10])
		var err error
		if ls[10], err = entry.NewLeaf(10, e.ReceivedAt.AsTime().Add(-time.Hour), e.Envelope, e.PeerCertificateSha256); err != nil {
			t.Fatal(err)
		}
		ls[late] = flipEnvelopeByte(t, ls[late])
		wantEntryError(t, run(t, ls), 10, "the agreement allows at most")
	})

	t.Run("workflow refusal, then bad signature", func(t *testing.T) {
		// Package 4's acknowledgement dropped and the gap closed: its
		// report is refused. A later entry is also forged.
		id := x.order[4]
		k, rep := x.ackOf[id], x.reportOf[id]
		ls := cloneLeaves(leaves[:k])
		for i := k + 1; i < uint64(len(leaves)); i++ {
			ls = append(ls, reindex(t, leaves[i], i-1))
		}
		ls[len(ls)-1] = flipEnvelopeByte(t, ls[len(ls)-1])
		wantEntryError(t, run(t, ls), rep-1, "workflow refuses it")
	})
}
