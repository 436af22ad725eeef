package service_test

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"google.golang.org/grpc/codes"

	"github.com/mvm-exchange/mvm/client/mvmclient"
	"github.com/mvm-exchange/mvm/internal/evidence"
	"github.com/mvm-exchange/mvm/internal/server"
	"github.com/mvm-exchange/mvm/internal/service"
	"github.com/mvm-exchange/mvm/internal/testenv"
	mvmv1 "github.com/mvm-exchange/mvm/proto/mvm/v1"
)

// evidenceFiles lists the names in the directory store's sub (objects or
// partial).
func evidenceFiles(t *testing.T, e *testenv.Env, sub string) []string {
	t.Helper()
	des, err := os.ReadDir(filepath.Join(filepath.Dir(e.DB), "evidence", sub))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, de := range des {
		names = append(names, de.Name())
	}
	return names
}

// One party's quota covers its files in every package, stored and being
// uploaded: over it, an upload is refused naming the flag and leaves
// nothing; a refused upload holds nothing of the quota, an interrupted
// one holds its declared size; another party is not affected; and all of
// it holds after a restart on the same database.
func TestEvidencePartyQuota(t *testing.T) {
	const quota = 1000
	cs := &cutStore{}
	f := newFixture(t, func(c *server.Config) {
		c.Evidence.Limits = service.EvidenceOptions{MaxBytes: quota, MaxPackageBytes: 1400, MaxUploads: 2, MaxPartyBytes: quota}
		c.Evidence.WrapStore = func(s evidence.Store) evidence.Store { cs.Store = s; return cs }
	})
	pkgA, pkgB := f.packageIn(t, "action-reported"), f.packageIn(t, "action-reported")
	upload := func(c *mvmclient.Client, pkg string, n int, seed byte) error {
		b, d := randomFile(n, seed)
		_, err := c.UploadEvidence(ctxT(t), pkg, d, int64(n), bytes.NewReader(b))
		return err
	}
	overQuota := func(t *testing.T, err error, party string) {
		t.Helper()
		wantCode(t, err, codes.ResourceExhausted, "party "+party, "limit of 1000 per party", "--evidence-max-party-bytes")
	}

	// 600 bytes in package A, in one pass (held under a key, then counted
	// under the digest it is stored under).
	a, _ := randomFile(600, 1)
	calls := 0
	if _, err := f.af().UploadEvidenceOnePass(ctxT(t), pkgA, bytes.Repeat([]byte{'k'}, 32), 600, writeAll(a, &calls)); err != nil {
		t.Fatalf("600 bytes in package A: %v", err)
	}
	// 500 more, in package B: over the party's quota, though package B
	// holds nothing. Nothing is written.
	overQuota(t, upload(f.af(), pkgB, 500, 2), "af")
	_, d2 := randomFile(500, 2)
	if st := evStatus(t, f.af(), pkgB, d2, 500); st.Offset != 0 || st.Stored {
		t.Errorf("the refused upload: %+v held; want nothing", st)
	}
	if p := evidenceFiles(t, f.env, "partial"); len(p) != 0 {
		t.Errorf("partial/ holds %v after a refused upload; want nothing", p)
	}
	// A wrong digest is refused by the store and frees its hold.
	b4, d4 := randomFile(400, 4)
	_, wrong := randomFile(400, 5)
	_, err := rawUpload(t, f.af(), &mvmv1.UploadEvidenceRequest{PackageId: pkgB, Sha256: wrong, Size: 400}, b4)
	wantCode(t, err, codes.InvalidArgument, "do not match")
	// An interrupted upload holds its declared size: 400 (100 of them
	// sent) fill the quota, so a 1-byte file is refused meanwhile; the
	// upload resumes and is stored.
	cs.cut.Store(100)
	if _, err := f.af().UploadEvidence(ctxT(t), pkgB, d4, 400, bytes.NewReader(b4)); err == nil || err.Error() != "the server holds 100 of the file's 400 bytes: run again to resume" {
		t.Fatalf("interrupted upload: %v; want it to hold 100 bytes", err)
	}
	overQuota(t, upload(f.af(), pkgA, 1, 6), "af")
	if res, err := f.af().UploadEvidence(ctxT(t), pkgB, d4, 400, bytes.NewReader(b4)); err != nil || !res.Stored || res.From != 100 {
		t.Fatalf("resuming the 400 bytes that fill the quota: %+v, %v; want stored from 100", res, err)
	}
	overQuota(t, upload(f.af(), pkgA, 1, 6), "af")
	// The same bytes as af's first file, uploaded by pk in one pass: stored
	// already, so counted once, as af's.
	if res, err := f.pk().UploadEvidenceOnePass(ctxT(t), pkgA, bytes.Repeat([]byte{'j'}, 32), 600, writeAll(a, &calls)); err != nil || !res.Stored {
		t.Fatalf("pk's copy of af's file: %+v, %v", res, err)
	}
	// The submitter's party is not affected, nor the mediators'. (Its
	// 1000 bytes fill package B's 1400 with af's 400: af's refused 500
	// are not counted there either.)
	if err := upload(f.pk(), pkgB, quota, 7); err != nil {
		t.Fatalf("pk's upload while af is at its quota: %v", err)
	}

	f.env.Restart()
	f.dial(t)
	overQuota(t, upload(f.af(), pkgB, 1, 8), "af")
	overQuota(t, upload(f.pk(), pkgA, 1, 9), "pk")
	if err := upload(f.tr(), pkgA, quota, 10); err != nil {
		t.Fatalf("tr's upload after the restart: %v", err)
	}
	// The same bytes again are stored already: nothing more is counted.
	if res, err := f.af().UploadEvidence(ctxT(t), pkgB, d4, 400, bytes.NewReader(b4)); err != nil || !res.Stored {
		t.Errorf("af's stored file again: %+v, %v; want stored already", res, err)
	}
	if o, p := evidenceFiles(t, f.env, "objects"), evidenceFiles(t, f.env, "partial"); len(o) != 4 || len(p) != 0 {
		t.Errorf("the store holds objects %v, partial %v; want the 4 files stored, nothing partial", o, p)
	}
}
