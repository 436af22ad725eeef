package service_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"io"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/mvm-exchange/mvm/client/mvmclient"
	"github.com/mvm-exchange/mvm/internal/evidence"
	"github.com/mvm-exchange/mvm/internal/evidence/evidencetest"
	"github.com/mvm-exchange/mvm/internal/server"
	"github.com/mvm-exchange/mvm/internal/service"
	"github.com/mvm-exchange/mvm/internal/testenv"
	mvmv1 "github.com/mvm-exchange/mvm/proto/mvm/v1"
)

func randomFile(n int, seed byte) ([]byte, []byte) {
	b := make([]byte, n)
	rand.NewChaCha8([32]byte{seed}).Read(b)
	d := sha256.Sum256(b)
	return b, d[:]
}

// logFiles logs the responder's signed submission naming the files.
func logFiles(t *testing.T, c *mvmclient.Client, pkg string, files ...[]byte) {
	t.Helper()
	m := &mvmv1.EvidenceSubmission{Header: mvmclient.NewHeader(), PackageId: pkg}
	for i, b := range files {
		d := sha256.Sum256(b)
		m.EvidenceSha256 = append(m.EvidenceSha256, d[:])
		m.Files = append(m.Files, &mvmv1.EvidenceFile{StoredSha256: d[:], StoredSize: int64(len(b)), Name: "file" + string(rune('a'+i)), MediaType: "video/mp4"})
	}
	mustAppend(t, c, m)
}

func download(t *testing.T, c *mvmclient.Client, pkg string, d []byte, off, n int64) ([]byte, error) {
	var out bytes.Buffer
	_, err := c.DownloadEvidence(ctxT(t), pkg, d, off, n, &out)
	return out.Bytes(), err
}

// The whole flow on each backend: upload, log, download (whole, ranges),
// as the parties of the package and a mediator.
func TestEvidenceRoundTrip(t *testing.T) {
	for _, backend := range []struct {
		name string
		cfg  func(t *testing.T) func(*server.Config)
	}{
		{"dir", func(*testing.T) func(*server.Config) { return func(*server.Config) {} }},
		{"versitygw", func(t *testing.T) func(*server.Config) {
			u := evidencetest.VersityGW(t)
			return func(c *server.Config) { c.Evidence.S3 = u }
		}},
	} {
		t.Run(backend.name, func(t *testing.T) {
			f := newFixture(t, backend.cfg(t))
			pkg := f.packageIn(t, "action-reported")
			b, d := randomFile(evidence.SegmentSize+3*mvmclient.EvidenceChunk+17, 1)
			res, err := f.af().UploadEvidence(ctxT(t), pkg, d, int64(len(b)), bytes.NewReader(b))
			if err != nil || !res.Stored || res.From != 0 {
				t.Fatalf("upload: %+v, %v", res, err)
			}
			// Stored, but no entry of the package names it yet.
			_, err = download(t, f.tr(), pkg, d, 0, 0)
			wantCode(t, err, codes.NotFound, "names no evidence file")
			logFiles(t, f.af(), pkg, b)
			for _, c := range []struct {
				who    *mvmclient.Client
				off, n int64
			}{{f.tr(), 0, 0}, {f.pk(), 0, 0}, {f.af(), 5, 100}, {f.clients[testenv.Mediator2], int64(len(b)) - 3, 0}} {
				got, err := download(t, c.who, pkg, d, c.off, c.n)
				want := b[c.off:]
				if c.n > 0 {
					want = b[c.off : c.off+c.n]
				}
				if err != nil || !bytes.Equal(got, want) {
					t.Errorf("download %d+%d as %s: %d bytes, %v; want %d bytes", c.off, c.n, c.who.ID, len(got), err, len(want))
				}
			}
			_, err = download(t, f.tr(), pkg, d, int64(len(b)), 1)
			wantCode(t, err, codes.OutOfRange)
			// Again: stored already, nothing is sent; a raw upload is refused.
			if res, err := f.af().UploadEvidence(ctxT(t), pkg, d, int64(len(b)), bytes.NewReader(b)); err != nil || !res.Stored || res.From != int64(len(b)) {
				t.Errorf("second upload: %+v, %v; want stored, nothing sent", res, err)
			}
			_, err = rawUpload(t, f.af(), &mvmv1.UploadEvidenceRequest{PackageId: pkg, Sha256: d, Size: int64(len(b))}, bytes.Repeat([]byte{0}, len(b)))
			wantCode(t, err, codes.AlreadyExists, "never overwritten")
			if got, _ := download(t, f.tr(), pkg, d, 0, 0); !bytes.Equal(got, b) {
				t.Error("the stored file changed after an overwrite attempt")
			}
		})
	}
}

// rawUpload sends first (with data[:k] in it) and then data[k:] in
// chunks, then closes; it returns the server's answer.
func rawUpload(t *testing.T, c *mvmclient.Client, first *mvmv1.UploadEvidenceRequest, data []byte) (*mvmv1.UploadEvidenceResponse, error) {
	t.Helper()
	stream, err := c.API.UploadEvidence(ctxT(t))
	if err != nil {
		return nil, err
	}
	first.Data = data[:min(len(data), 1000)]
	if err := stream.Send(first); err == nil {
		for rest := data[len(first.Data):]; len(rest) > 0; {
			n := min(len(rest), 64<<10)
			if stream.Send(&mvmv1.UploadEvidenceRequest{Data: rest[:n]}) != nil {
				break
			}
			rest = rest[n:]
		}
	}
	return stream.CloseAndRecv()
}

func evStatus(t *testing.T, c *mvmclient.Client, pkg string, d []byte, size int) *mvmv1.EvidenceStatusResponse {
	t.Helper()
	st, err := c.API.EvidenceStatus(ctxT(t), &mvmv1.EvidenceStatusRequest{PackageId: pkg, Sha256: d, Size: int64(size)})
	if err != nil {
		t.Fatalf("EvidenceStatus: %v", err)
	}
	return st
}

func TestEvidenceHostileUploads(t *testing.T) {
	f := newFixture(t)
	pkg := f.packageIn(t, "action-reported")
	b, d := randomFile(300_000, 2)

	t.Run("wrong digest stores nothing", func(t *testing.T) {
		_, other := randomFile(10, 3)
		_, err := rawUpload(t, f.af(), &mvmv1.UploadEvidenceRequest{PackageId: pkg, Sha256: other, Size: int64(len(b))}, b)
		wantCode(t, err, codes.InvalidArgument, "do not match")
		if st := evStatus(t, f.af(), pkg, other, len(b)); st.Offset != 0 || st.Stored {
			t.Errorf("after a wrong digest: %+v, want nothing held", st)
		}
	})
	t.Run("tampered chunk stores nothing", func(t *testing.T) {
		bad := bytes.Clone(b)
		bad[200_000] ^= 0x80
		_, err := rawUpload(t, f.af(), &mvmv1.UploadEvidenceRequest{PackageId: pkg, Sha256: d, Size: int64(len(b))}, bad)
		wantCode(t, err, codes.InvalidArgument, "do not match")
		if st := evStatus(t, f.af(), pkg, d, len(b)); st.Offset != 0 || st.Stored {
			t.Errorf("after a tampered chunk: %+v, want nothing held", st)
		}
	})
	t.Run("more bytes than declared", func(t *testing.T) {
		_, err := rawUpload(t, f.af(), &mvmv1.UploadEvidenceRequest{PackageId: pkg, Sha256: d, Size: int64(len(b)) - 1}, b)
		wantCode(t, err, codes.InvalidArgument, "exceed the declared size")
	})
	t.Run("truncated upload is held, not stored, and resumes", func(t *testing.T) {
		resp, err := rawUpload(t, f.af(), &mvmv1.UploadEvidenceRequest{PackageId: pkg, Sha256: d, Size: int64(len(b))}, b[:123_456])
		if err != nil || resp.Stored || resp.Offset != 123_456 {
			t.Fatalf("truncated upload: %+v, %v; want 123456 held, not stored", resp, err)
		}
		if st := evStatus(t, f.tr(), pkg, d, len(b)); st.Offset != 123_456 || st.Stored {
			t.Fatalf("status: %+v", st)
		}
		_, err = rawUpload(t, f.af(), &mvmv1.UploadEvidenceRequest{PackageId: pkg, Sha256: d, Size: int64(len(b)), Offset: 100}, b[100:])
		wantCode(t, err, codes.FailedPrecondition, "resume from 123456")
		res, err := f.af().UploadEvidence(ctxT(t), pkg, d, int64(len(b)), bytes.NewReader(b))
		if err != nil || !res.Stored || res.From != 123_456 {
			t.Fatalf("resume: %+v, %v; want from 123456, stored", res, err)
		}
	})
	t.Run("a client that stops mid-upload resumes", func(t *testing.T) {
		b, d := randomFile(2<<20, 4)
		ctx, cancel := context.WithCancel(ctxT(t))
		stream, err := f.af().API.UploadEvidence(ctx)
		if err != nil {
			t.Fatal(err)
		}
		stream.Send(&mvmv1.UploadEvidenceRequest{PackageId: pkg, Sha256: d, Size: int64(len(b)), Data: b[:500_000]})
		stream.Send(&mvmv1.UploadEvidenceRequest{Data: b[500_000:700_000]})
		// The directory store writes through: wait until the server has
		// the bytes sent, then the client dies.
		for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
			if evStatus(t, f.af(), pkg, d, len(b)).Offset == 700_000 {
				break
			}
		}
		cancel() // the client dies
		var st *mvmv1.EvidenceStatusResponse
		for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
			if st = evStatus(t, f.af(), pkg, d, len(b)); st.Offset > 0 {
				break
			}
		}
		if st.Stored || st.Offset <= 0 || st.Offset > 700_000 {
			t.Fatalf("after the client died: %+v; want part held, not stored", st)
		}
		// The server may still be ending the dead client's stream: busy.
		var res mvmclient.UploadResult
		for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
			if res, err = f.af().UploadEvidence(ctxT(t), pkg, d, int64(len(b)), bytes.NewReader(b)); err == nil || !strings.Contains(err.Error(), "in progress") {
				break
			}
		}
		if err != nil || !res.Stored || res.From != st.Offset {
			t.Fatalf("resume: %+v, %v; want from %d", res, err, st.Offset)
		}
		logFiles(t, f.af(), pkg, b)
		if got, err := download(t, f.tr(), pkg, d, 0, 0); err != nil || !bytes.Equal(got, b) {
			t.Fatalf("resumed file differs (%v)", err)
		}
	})
	t.Run("later messages carry data only", func(t *testing.T) {
		stream, err := f.af().API.UploadEvidence(ctxT(t))
		if err != nil {
			t.Fatal(err)
		}
		_, d5 := randomFile(10, 5)
		stream.Send(&mvmv1.UploadEvidenceRequest{PackageId: pkg, Sha256: d5, Size: 10, Data: []byte("abc")})
		stream.Send(&mvmv1.UploadEvidenceRequest{PackageId: "other", Data: []byte("def")})
		_, err = stream.CloseAndRecv()
		wantCode(t, err, codes.InvalidArgument, "only the first message")
	})
	for _, c := range []struct {
		name string
		req  *mvmv1.UploadEvidenceRequest
		code codes.Code
		msg  string
	}{
		{"no such package", &mvmv1.UploadEvidenceRequest{PackageId: "nope", Sha256: d, Size: 1}, codes.NotFound, "does not exist"},
		{"bad package id", &mvmv1.UploadEvidenceRequest{PackageId: "../x", Sha256: d, Size: 1}, codes.InvalidArgument, "package_id"},
		{"short digest", &mvmv1.UploadEvidenceRequest{PackageId: pkg, Sha256: d[:31], Size: 1}, codes.InvalidArgument, "sha256"},
		{"negative size", &mvmv1.UploadEvidenceRequest{PackageId: pkg, Sha256: d, Size: -1}, codes.InvalidArgument, "size"},
		{"offset past size", &mvmv1.UploadEvidenceRequest{PackageId: pkg, Sha256: d, Size: 1, Offset: 2}, codes.InvalidArgument, "offset"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := rawUpload(t, f.af(), c.req, nil)
			wantCode(t, err, c.code, c.msg)
		})
	}
}

// A party not on the package can neither upload, ask, nor download: it
// gets the answer for a package that does not exist.
func TestEvidenceScope(t *testing.T) {
	x := newTwoResponders(t, 1, 0)
	pkg := x.forAF[0]
	b, d := randomFile(1000, 6)
	if _, err := x.af.UploadEvidence(ctxT(t), pkg, d, int64(len(b)), bytes.NewReader(b)); err != nil {
		t.Fatal(err)
	}
	mustAppend(t, x.af, ack(pkg))
	mustAppend(t, x.af, report(pkg, mvmv1.Outcome_OUTCOME_RAID_CONDUCTED))
	logFiles(t, x.af, pkg, b)
	_, other := randomFile(1000, 7)
	_, err := rawUpload(t, x.ir, &mvmv1.UploadEvidenceRequest{PackageId: pkg, Sha256: other, Size: 1000}, make([]byte, 1000))
	wantCode(t, err, codes.NotFound, "or party ir may not read it")
	_, err = x.ir.API.EvidenceStatus(ctxT(t), &mvmv1.EvidenceStatusRequest{PackageId: pkg, Sha256: d, Size: 1000})
	wantCode(t, err, codes.NotFound, "or party ir may not read it")
	_, err = download(t, x.ir, pkg, d, 0, 0)
	wantCode(t, err, codes.NotFound, "or party ir may not read it")
	if got, err := download(t, x.tr, pkg, d, 0, 0); err != nil || !bytes.Equal(got, b) {
		t.Errorf("mediator download: %v", err)
	}
}

func TestEvidenceLimits(t *testing.T) {
	f := newFixture(t, func(c *server.Config) {
		c.Evidence.Limits = service.EvidenceOptions{MaxBytes: 1000, MaxPackageBytes: 1500, MaxUploads: 1}
	})
	pkg := f.packageIn(t, "action-reported")
	big, dBig := randomFile(1001, 8)
	_, err := rawUpload(t, f.af(), &mvmv1.UploadEvidenceRequest{PackageId: pkg, Sha256: dBig, Size: int64(len(big))}, big)
	wantCode(t, err, codes.ResourceExhausted, "--evidence-max-bytes")

	one, d1 := randomFile(1000, 9)
	if _, err := f.af().UploadEvidence(ctxT(t), pkg, d1, 1000, bytes.NewReader(one)); err != nil {
		t.Fatal(err)
	}
	two, d2 := randomFile(600, 10)
	_, err = f.af().UploadEvidence(ctxT(t), pkg, d2, 600, bytes.NewReader(two))
	wantCode(t, err, codes.ResourceExhausted, "--evidence-max-package-bytes")
	// Another package has its own bound.
	pkg2 := f.packageIn(t, "action-reported")
	if _, err := f.af().UploadEvidence(ctxT(t), pkg2, d2, 600, bytes.NewReader(two)); err != nil {
		t.Fatalf("another package: %v", err)
	}

	// One upload at a time: the first holds its slot until it ends.
	three, d3 := randomFile(900, 11)
	stream, err := f.af().API.UploadEvidence(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	stream.Send(&mvmv1.UploadEvidenceRequest{PackageId: pkg2, Sha256: d3, Size: 900, Data: three[:10]})
	// The directory store writes through: 10 bytes held means the upload
	// has its slot.
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if evStatus(t, f.af(), pkg2, d3, 900).Offset == 10 {
			break
		}
	}
	small, ds := randomFile(5, 12)
	_, busy := rawUpload(t, f.af(), &mvmv1.UploadEvidenceRequest{PackageId: pkg2, Sha256: ds, Size: 5}, small)
	wantCode(t, busy, codes.ResourceExhausted, "--evidence-max-uploads")
	// Another identity is not held back by this one's uploads.
	pkg3 := f.packageIn(t, "action-reported")
	if _, err := f.tr().UploadEvidence(ctxT(t), pkg3, d1, 1000, bytes.NewReader(one)); err != nil {
		t.Errorf("another identity's upload during af's: %v", err)
	}
	stream.Send(&mvmv1.UploadEvidenceRequest{Data: three[10:]})
	if resp, err := stream.CloseAndRecv(); err != nil || !resp.Stored {
		t.Fatalf("first upload: %+v, %v", resp, err)
	}
}

// The authorization matrix's calls of the evidence RPCs (matrix_test.go).
func evidenceStatusCall(ctx context.Context, c *mvmclient.Client, f *matrixFixture) error {
	d := sha256.Sum256([]byte(c.ID.String()))
	_, err := c.API.EvidenceStatus(ctx, &mvmv1.EvidenceStatusRequest{PackageId: f.packageID, Sha256: d[:], Size: 1})
	return err
}

func uploadEvidenceCall(ctx context.Context, c *mvmclient.Client, f *matrixFixture) error {
	b := []byte(c.ID.String())
	d := sha256.Sum256(b)
	_, err := c.UploadEvidence(ctx, f.packageID, d[:], int64(len(b)), bytes.NewReader(b))
	return err
}

func downloadEvidenceCall(ctx context.Context, c *mvmclient.Client, f *matrixFixture) error {
	d := sha256.Sum256([]byte(c.ID.String()))
	_, err := c.DownloadEvidence(ctx, f.packageID, d[:], 0, 0, io.Discard)
	if status.Code(err) == codes.NotFound && strings.Contains(err.Error(), "names no evidence file") {
		return nil // past the caller's scope: the package names no such file
	}
	return err
}

// A submission naming a file is logged only once the file is stored, with
// the size it names: the evidence deadline it meets is met by files.
func TestEvidenceSubmissionNeedsStoredFiles(t *testing.T) {
	f := newFixture(t)
	pkg := f.packageIn(t, "action-reported")
	b, d := randomFile(5000, 13)
	m := &mvmv1.EvidenceSubmission{Header: mvmclient.NewHeader(), PackageId: pkg, EvidenceSha256: [][]byte{d},
		Files: []*mvmv1.EvidenceFile{{StoredSha256: d, StoredSize: 5000, Name: "film.mp4"}}}
	before := f.size(t)
	_, err := f.af().Append(ctxT(t), m)
	wantCode(t, err, codes.FailedPrecondition, "is not stored on the exchange")
	if _, err := f.af().UploadEvidence(ctxT(t), pkg, d, int64(len(b)), bytes.NewReader(b)); err != nil {
		t.Fatal(err)
	}
	m.Files[0].StoredSize = 4999
	_, err = f.af().Append(ctxT(t), m)
	wantCode(t, err, codes.FailedPrecondition, "the stored file has 5000 bytes")
	f.wantSize(t, before)
	m.Files[0].StoredSize = 5000
	mustAppend(t, f.af(), m)
}
