package service_test

import (
	"context"
	"fmt"
	"io"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/mvm-exchange/mvm/client/mvmclient"
	"github.com/mvm-exchange/mvm/internal/evidence"
	"github.com/mvm-exchange/mvm/internal/server"
)

// cutStore ends the next upload after cut bytes of the file: the store
// takes what came before and answers as for a client gone (held < size,
// no error), so the server answers the stream with what it holds.
type cutStore struct {
	evidence.Store
	cut atomic.Int64 // > 0: where the next upload ends
}

func (s *cutStore) WriteAs(ctx context.Context, d evidence.Digest, size, off int64, r io.Reader, digest func() (evidence.Digest, error)) (int64, error) {
	if cut := s.cut.Swap(0); cut > 0 {
		r = io.LimitReader(r, cut-off)
	}
	return s.Store.WriteAs(ctx, d, size, off, r, digest)
}

// An upload the server ends early: the client's error says how many of
// the file's bytes the server holds and to run again, and running again
// sends only the rest and stores the file; for both ways of uploading.
func TestEvidenceUploadEndedEarlyResumes(t *testing.T) {
	cs := &cutStore{}
	f := newFixture(t, func(c *server.Config) {
		c.Evidence.WrapStore = func(s evidence.Store) evidence.Store { cs.Store = s; return cs }
	})
	pkg := f.packageIn(t, "action-reported")
	size := 3*mvmclient.EvidenceChunk + 17
	const cut = mvmclient.EvidenceChunk + 100
	for _, c := range []struct {
		name   string
		seed   byte
		upload func(b, d []byte) (mvmclient.UploadResult, error)
	}{
		{"digest first", 1, func(b, d []byte) (mvmclient.UploadResult, error) {
			return f.af().UploadEvidence(ctxT(t), pkg, d, int64(len(b)), strings.NewReader(string(b)))
		}},
		{"one pass", 2, func(b, _ []byte) (mvmclient.UploadResult, error) {
			calls := 0
			return f.af().UploadEvidenceOnePass(ctxT(t), pkg, []byte(strings.Repeat("k", 32)), int64(len(b)), writeAll(b, &calls))
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			b, d := randomFile(size, c.seed)
			cs.cut.Store(cut)
			res, err := c.upload(b, d)
			want := fmt.Sprintf("the server holds %d of the file's %d bytes: run again to resume", cut, size)
			if err == nil || err.Error() != want {
				t.Fatalf("upload ended early: %v; want %q", err, want)
			}
			if res.Stored || res.Held != cut || res.From != 0 {
				t.Fatalf("upload ended early: %+v; want from 0, %d held, not stored", res, cut)
			}
			res, err = c.upload(b, d)
			if err != nil || !res.Stored || res.From != cut || res.Held != int64(size) {
				t.Fatalf("run again: %+v, %v; want from %d to %d, stored", res, err, cut, size)
			}
			logFiles(t, f.af(), pkg, b)
			if got, err := download(t, f.tr(), pkg, d, 0, 0); err != nil || string(got) != string(b) {
				t.Fatalf("the resumed file differs (%v)", err)
			}
		})
	}
}
