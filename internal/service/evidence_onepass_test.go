package service_test

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/mvm-exchange/mvm/client/mvmclient"
	"github.com/mvm-exchange/mvm/internal/evidence"
	"github.com/mvm-exchange/mvm/internal/evidence/evidencetest"
	"github.com/mvm-exchange/mvm/internal/server"
	mvmv1 "github.com/mvm-exchange/mvm/proto/mvm/v1"
)

// onePassStatus is EvidenceStatus of a one-pass upload.
func onePassStatus(t *testing.T, c *mvmclient.Client, pkg string, key []byte, size int) *mvmv1.EvidenceStatusResponse {
	t.Helper()
	st, err := c.API.EvidenceStatus(ctxT(t), &mvmv1.EvidenceStatusRequest{PackageId: pkg, UploadKey: key, Size: int64(size)})
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// writeAll is a one-pass source of b, which counts its calls.
func writeAll(b []byte, calls *int) func(io.Writer) error {
	return func(w io.Writer) error {
		*calls++
		_, err := w.Write(b)
		return err
	}
}

// One-pass uploads (the digest sent last), on each backend: stored under
// the digest of the bytes; a wrong last digest or a changed byte stores
// nothing and holds nothing; a client killed mid-upload resumes, its
// digest rebuilt from the source; held bytes that are not the file's
// prefix are dropped and the upload starts again from 0; another caller
// cannot see or continue the upload.
func TestEvidenceOnePass(t *testing.T) {
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
			b, d := randomFile(evidence.SegmentSize+3*mvmclient.EvidenceChunk+17, 7)
			key := bytes.Repeat([]byte{1}, 32)

			// A wrong last digest, or a byte changed on the way: nothing
			// stored under either digest, nothing held.
			_, other := randomFile(10, 8)
			for name, c := range map[string]struct{ data, sum []byte }{
				"wrong digest":  {b, other},
				"changed chunk": {append(bytes.Clone(b[:len(b)-1]), b[len(b)-1]^1), d},
			} {
				_, err := rawUpload(t, f.af(), &mvmv1.UploadEvidenceRequest{PackageId: pkg, UploadKey: key, Size: int64(len(b))}, append(c.data, 0)[:len(c.data)])
				wantCode(t, err, codes.FailedPrecondition, "without the sha256") // no digest sent: held, not stored
				stream, err := f.af().API.UploadEvidence(ctxT(t))
				if err != nil {
					t.Fatal(err)
				}
				stream.Send(&mvmv1.UploadEvidenceRequest{PackageId: pkg, UploadKey: key, Size: int64(len(b)), Offset: int64(len(b)), Sha256: c.sum})
				_, err = stream.CloseAndRecv()
				wantCode(t, err, codes.InvalidArgument, "do not match")
				if st := onePassStatus(t, f.af(), pkg, key, len(b)); st.Offset != 0 || st.Stored {
					t.Errorf("%s: %+v held, want nothing", name, st)
				}
				for _, sum := range [][]byte{c.sum, d} {
					if st := evStatus(t, f.af(), pkg, sum, len(b)); st.Offset != 0 || st.Stored {
						t.Errorf("%s: %+v under %x, want nothing", name, st, sum)
					}
				}
			}

			// Killed after a block and 100 bytes; the next run resumes.
			ctx, kill := context.WithCancel(ctxT(t))
			stream, err := f.af().API.UploadEvidence(ctx)
			if err != nil {
				t.Fatal(err)
			}
			stream.Send(&mvmv1.UploadEvidenceRequest{PackageId: pkg, UploadKey: key, Size: int64(len(b)), Data: b[:100]})
			for off := 100; off < evidence.SegmentSize+100; off += 512 << 10 {
				stream.Send(&mvmv1.UploadEvidenceRequest{Data: b[off : off+512<<10]})
			}
			// The server has every byte sent (a directory), or the block
			// (S3 holds whole blocks), when the client dies.
			sent := int64(evidence.SegmentSize + 100)
			if backend.name != "dir" {
				sent = evidence.SegmentSize
			}
			for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
				if onePassStatus(t, f.af(), pkg, key, len(b)).Offset == sent {
					break
				}
			}
			kill()
			held := onePassStatus(t, f.af(), pkg, key, len(b)).Offset
			if held != sent {
				t.Fatalf("after the kill %d held, want part of the file", held)
			}
			// Another caller does not see it, under the same key.
			if st := onePassStatus(t, f.tr(), pkg, key, len(b)); st.Offset != 0 {
				t.Errorf("another caller sees %d bytes of the upload", st.Offset)
			}
			var res mvmclient.UploadResult
			calls := 0
			for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
				if res, err = f.af().UploadEvidenceOnePass(ctxT(t), pkg, key, int64(len(b)), writeAll(b, &calls)); err == nil || !strings.Contains(err.Error(), "in progress") {
					break
				}
			}
			if err != nil || !res.Stored || res.From != held || !bytes.Equal(res.Sum, d) {
				t.Fatalf("resume: %+v, %v; want from %d, sha256 %x", res, err, held, d)
			}
			logFiles(t, f.af(), pkg, b)
			if got, err := download(t, f.tr(), pkg, d, 0, 0); err != nil || !bytes.Equal(got, b) {
				t.Fatalf("the resumed file differs (%v)", err)
			}

			// The held prefix is not the file's (it changed between runs):
			// dropped, the upload starts again from 0, once.
			b2, d2 := randomFile(evidence.SegmentSize+5, 9)
			key2 := bytes.Repeat([]byte{2}, 32)
			old := bytes.Clone(b2)
			old[3] ^= 1
			if r, err := rawUpload(t, f.af(), &mvmv1.UploadEvidenceRequest{PackageId: pkg, UploadKey: key2, Size: int64(len(b2))}, old[:evidence.SegmentSize]); err != nil || r.Offset != evidence.SegmentSize {
				t.Fatalf("first part: %+v, %v", r, err)
			}
			calls = 0
			res, err = f.af().UploadEvidenceOnePass(ctxT(t), pkg, key2, int64(len(b2)), writeAll(b2, &calls))
			if err != nil || !res.Stored || res.From != 0 || calls != 2 || !bytes.Equal(res.Sum, d2) {
				t.Fatalf("changed file: %+v, %v, %d passes; want stored from 0 in a second pass", res, err, calls)
			}
			// The same bytes again, under a new key: stored already, fine.
			calls = 0
			if res, err = f.af().UploadEvidenceOnePass(ctxT(t), pkg, bytes.Repeat([]byte{3}, 32), int64(len(b2)), writeAll(b2, &calls)); err != nil || !res.Stored {
				t.Fatalf("the same bytes again: %+v, %v", res, err)
			}
			if backend.name == "dir" {
				partial, _ := os.ReadDir(filepath.Join(filepath.Dir(f.env.DB), "evidence", "partial"))
				if len(partial) != 0 {
					t.Errorf("%d unfinished uploads left, want none", len(partial))
				}
			}
		})
	}
}
