package service_test

import (
	"bytes"
	"testing"

	"google.golang.org/grpc/codes"

	"github.com/mvm-exchange/mvm/internal/server"
	"github.com/mvm-exchange/mvm/internal/service"
	mvmv1 "github.com/mvm-exchange/mvm/proto/mvm/v1"
)

// TestEvidenceRefusedUploadFreesQuota: an upload the store refuses (bytes
// that do not match their digest, more bytes than declared) leaves
// nothing behind, not even its share of the package's quota: the file
// that fills the quota exactly is taken after each refusal.
func TestEvidenceRefusedUploadFreesQuota(t *testing.T) {
	f := newFixture(t, func(c *server.Config) {
		// The party's quota is the package's too: a refusal that kept
		// either hold would refuse the last upload.
		c.Evidence.Limits = service.EvidenceOptions{MaxBytes: 1000, MaxPackageBytes: 1000, MaxPartyBytes: 1000, MaxUploads: 1}
	})
	pkg := f.packageIn(t, "action-reported")
	b, d := randomFile(1000, 21)

	_, other := randomFile(10, 22)
	_, err := rawUpload(t, f.af(), &mvmv1.UploadEvidenceRequest{PackageId: pkg, Sha256: other, Size: int64(len(b))}, b)
	wantCode(t, err, codes.InvalidArgument, "do not match")
	tooLong, dl := randomFile(900, 23)
	_, err = rawUpload(t, f.af(), &mvmv1.UploadEvidenceRequest{PackageId: pkg, Sha256: dl, Size: int64(len(tooLong)) - 1}, tooLong)
	wantCode(t, err, codes.InvalidArgument, "exceed the declared size")

	if _, err := f.af().UploadEvidence(ctxT(t), pkg, d, int64(len(b)), bytes.NewReader(b)); err != nil {
		t.Fatalf("the file that fills the package's quota, after two refused uploads: %v; want it stored (a refusal holds no quota)", err)
	}
	// The quota is full now: it is counted, and the bound holds.
	more, dm := randomFile(1, 24)
	_, err = f.af().UploadEvidence(ctxT(t), pkg, dm, 1, bytes.NewReader(more))
	wantCode(t, err, codes.ResourceExhausted, "--evidence-max-package-bytes")
}
