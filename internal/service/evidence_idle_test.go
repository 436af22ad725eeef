package service_test

import (
	"bytes"
	"io"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/mvm-exchange/mvm/internal/devpki"
	"github.com/mvm-exchange/mvm/internal/server"
	"github.com/mvm-exchange/mvm/internal/service"
	mvmv1 "github.com/mvm-exchange/mvm/proto/mvm/v1"
)

// Upload slots are a party's, whatever identities it mints: a second
// identity of the party holding every slot is refused, naming the limit
// per party; another party is not. An upload whose client stops sending
// is ended after the idle timeout, naming the flag, with what it sent
// kept; its slot is free again, and the upload resumes from there. An
// upload that never sends its first message is ended too.
func TestEvidenceUploadSlotsPerPartyAndIdle(t *testing.T) {
	const idle = 500 * time.Millisecond
	f := newFixture(t, func(c *server.Config) {
		c.Evidence.Limits = service.EvidenceOptions{MaxUploads: 1, IdleTimeout: idle}
	})
	if err := devpki.Issue(f.env.Certs, "af-second", "af", devpki.IssueOptions{}); err != nil {
		t.Fatal(err)
	}
	af2 := f.env.Client("af-second")
	pkg := f.packageIn(t, "action-reported")
	b, d := randomFile(900, 21)

	stream, err := f.af().API.UploadEvidence(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	stream.Send(&mvmv1.UploadEvidenceRequest{PackageId: pkg, Sha256: d, Size: 900, Data: b[:10]})
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline) && evStatus(t, f.af(), pkg, d, 900).Offset < 10; time.Sleep(10 * time.Millisecond) {
	}
	// The slot is af's: af-second is refused, pk is not.
	small, ds := randomFile(5, 22)
	_, err = rawUpload(t, af2, &mvmv1.UploadEvidenceRequest{PackageId: pkg, Sha256: ds, Size: 5}, small)
	wantCode(t, err, codes.ResourceExhausted, "party af has 1 uploads under way", "limit per party", "--evidence-max-uploads")
	if _, err := f.pk().UploadEvidence(ctxT(t), pkg, ds, 5, bytes.NewReader(small)); err != nil {
		t.Fatalf("pk's upload while af holds its slot: %v", err)
	}

	// af's client sends nothing more, nor closes: the server ends the
	// upload.
	err = stream.RecvMsg(new(mvmv1.UploadEvidenceResponse))
	wantCode(t, err, codes.Unavailable, "sent nothing for 500ms", "--evidence-idle-timeout")
	if took := time.Since(start); took < idle || took > idle+5*time.Second {
		t.Errorf("ended after %v; want about %v", took, idle)
	}
	if st := evStatus(t, f.af(), pkg, d, 900); st.Offset != 10 || st.Stored {
		t.Errorf("after the idle end: %+v; want 10 bytes kept", st)
	}
	// The slot is free: af-second resumes af's upload.
	res, err := af2.UploadEvidence(ctxT(t), pkg, d, 900, bytes.NewReader(b))
	if err != nil || !res.Stored || res.From != 10 {
		t.Fatalf("resuming after the idle end: %+v, %v", res, err)
	}

	// A stream that never names its file is ended as well, and holds no
	// slot meanwhile.
	quiet, err := af2.API.UploadEvidence(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond)
	if _, err := f.af().UploadEvidence(ctxT(t), pkg, ds, 5, bytes.NewReader(small)); err != nil {
		t.Errorf("an upload beside a stream that sent nothing: %v", err)
	}
	err = quiet.RecvMsg(new(mvmv1.UploadEvidenceResponse))
	wantCode(t, err, codes.Unavailable, "before its first message", "--evidence-idle-timeout")
}

// A message after the first with no data (nor, last in a one-pass
// upload, its sha256) is refused: each message restarts the idle
// timeout, so empty ones would hold the party's slot with no progress.
func TestEvidenceUploadRefusesEmptyMessages(t *testing.T) {
	const idle = 300 * time.Millisecond
	f := newFixture(t, func(c *server.Config) {
		c.Evidence.Limits = service.EvidenceOptions{MaxUploads: 1, IdleTimeout: idle}
	})
	pkg := f.packageIn(t, "action-reported")
	b, d := randomFile(900, 23)
	stream, err := f.af().API.UploadEvidence(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	stream.Send(&mvmv1.UploadEvidenceRequest{PackageId: pkg, Sha256: d, Size: 900, Data: b[:10]})
	for range 3 {
		time.Sleep(idle / 3)
		stream.Send(&mvmv1.UploadEvidenceRequest{})
	}
	err = stream.RecvMsg(new(mvmv1.UploadEvidenceResponse))
	wantCode(t, err, codes.InvalidArgument, "a message after the first carries data")
	// The slot is free: the upload resumes.
	res, err := f.af().UploadEvidence(ctxT(t), pkg, d, 900, bytes.NewReader(b))
	if err != nil || !res.Stored {
		t.Fatalf("resuming after the refusal: %+v, %v", res, err)
	}
}

// The client opens an upload's stream with its first message, not
// before: a source slow to give its first bytes (a resumed file hashed
// again from its start, a sealer) does not run into the idle timeout.
func TestEvidenceUploadOpensWithFirstMessage(t *testing.T) {
	const idle = 300 * time.Millisecond
	f := newFixture(t, func(c *server.Config) {
		c.Evidence.Limits = service.EvidenceOptions{IdleTimeout: idle}
	})
	pkg := f.packageIn(t, "action-reported")
	b, _ := randomFile(900, 24)
	res, err := f.af().UploadEvidenceOnePass(ctxT(t), pkg, bytes.Repeat([]byte{5}, 32), int64(len(b)), func(w io.Writer) error {
		time.Sleep(3 * idle)
		_, err := w.Write(b)
		return err
	})
	if err != nil || !res.Stored {
		t.Fatalf("an upload whose source waited %v before its first bytes: %+v, %v", 3*idle, res, err)
	}
}
