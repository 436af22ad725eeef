package evidence_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/mvm-exchange/mvm/internal/evidence"
	"github.com/mvm-exchange/mvm/internal/evidence/evidencetest"
)

// The conformance suite: every guarantee of the package doc, run against
// each backend on real storage (a directory in t.TempDir(), versitygw).

func TestDirConformance(t *testing.T) {
	conformance(t, func(t *testing.T) evidence.Store {
		s, err := evidence.NewDir(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}

func TestS3Conformance(t *testing.T) {
	conformance(t, func(t *testing.T) evidence.Store {
		s, err := evidence.NewS3(context.Background(), evidencetest.VersityGW(t))
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}

func data(n int, seed uint64) []byte {
	b := make([]byte, n)
	rand.NewChaCha8([32]byte{byte(seed), byte(seed >> 8)}).Read(b)
	return b
}

func digest(b []byte) evidence.Digest { return sha256.Sum256(b) }

// big spans three of the S3 store's blocks, the last one short.
var big = data(2*evidence.SegmentSize+1234, 1)

func readAll(t *testing.T, s evidence.Store, d evidence.Digest, off, n int64) []byte {
	t.Helper()
	r, err := s.Open(context.Background(), d, off, n)
	if err != nil {
		t.Fatalf("Open(%d, %d): %v", off, n, err)
	}
	defer r.Close()
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("reading: %v", err)
	}
	return b
}

func mustAbsent(t *testing.T, s evidence.Store, d evidence.Digest, size int64) {
	t.Helper()
	ctx := context.Background()
	if _, err := s.Stat(ctx, d); !errors.Is(err, evidence.ErrNotFound) {
		t.Errorf("Stat: %v, want ErrNotFound (nothing visible)", err)
	}
	if _, err := s.Open(ctx, d, 0, -1); !errors.Is(err, evidence.ErrNotFound) {
		t.Errorf("Open: %v, want ErrNotFound", err)
	}
	if off, err := s.Offset(ctx, d, size); err != nil || off != 0 {
		t.Errorf("Offset = %d, %v; want 0 (nothing held)", off, err)
	}
}

// stopAfter gives n bytes of b, then fails like a dropped connection.
type stopAfter struct {
	r   io.Reader
	err error
}

func (s *stopAfter) Read(p []byte) (int, error) {
	n, err := s.r.Read(p)
	if err == io.EOF {
		return n, s.err
	}
	return n, err
}

func conformance(t *testing.T, open func(t *testing.T) evidence.Store) {
	ctx := context.Background()

	t.Run("put, stat, ranges", func(t *testing.T) {
		s := open(t)
		d := digest(big)
		if err := evidence.Put(ctx, s, d, int64(len(big)), bytes.NewReader(big)); err != nil {
			t.Fatalf("Put: %v", err)
		}
		if size, err := s.Stat(ctx, d); err != nil || size != int64(len(big)) {
			t.Fatalf("Stat = %d, %v; want %d", size, err, len(big))
		}
		n := int64(len(big))
		for _, c := range []struct {
			name   string
			off, n int64
		}{
			{"whole", 0, -1}, {"whole, explicit", 0, n}, {"head", 0, 10}, {"across a block", evidence.SegmentSize - 5, 10},
			{"tail", n - 7, -1}, {"empty at the end", n, 0}, {"middle", 12345, 1 << 20},
		} {
			t.Run(c.name, func(t *testing.T) {
				want := big[c.off:]
				if c.n >= 0 {
					want = big[c.off : c.off+c.n]
				}
				if got := readAll(t, s, d, c.off, c.n); !bytes.Equal(got, want) {
					t.Errorf("got %d bytes, want %d (equal: false)", len(got), len(want))
				}
			})
		}
		for _, c := range []struct{ off, n int64 }{{-1, 1}, {n + 1, -1}, {n - 1, 2}, {0, n + 1}} {
			if _, err := s.Open(ctx, d, c.off, c.n); err == nil {
				t.Errorf("Open(%d, %d) outside the object: no error", c.off, c.n)
			}
		}
	})

	t.Run("empty object", func(t *testing.T) {
		s := open(t)
		d := digest(nil)
		if err := evidence.Put(ctx, s, d, 0, bytes.NewReader(nil)); err != nil {
			t.Fatalf("Put: %v", err)
		}
		if got := readAll(t, s, d, 0, -1); len(got) != 0 {
			t.Errorf("got %d bytes, want 0", len(got))
		}
	})

	t.Run("unknown digest", func(t *testing.T) {
		mustAbsent(t, open(t), digest([]byte("never stored")), 10)
	})

	t.Run("refused uploads leave nothing", func(t *testing.T) {
		small := data(1000, 2)
		for _, c := range []struct {
			name string
			d    evidence.Digest
			size int64
			body []byte
			want error
		}{
			{"wrong digest", digest([]byte("other")), int64(len(small)), small, evidence.ErrDigestMismatch},
			{"wrong digest, many blocks", digest(small), int64(len(big)), big, evidence.ErrDigestMismatch},
			{"one tampered byte", digest(big), int64(len(big)), append(append([]byte{}, big[:len(big)-1]...), big[len(big)-1]^1), evidence.ErrDigestMismatch},
			{"more bytes than declared", digest(small[:999]), 999, small, evidence.ErrTooLong},
		} {
			t.Run(c.name, func(t *testing.T) {
				s := open(t)
				err := evidence.Put(ctx, s, c.d, c.size, bytes.NewReader(c.body))
				if !errors.Is(err, c.want) {
					t.Fatalf("Put: %v, want %v", err, c.want)
				}
				mustAbsent(t, s, c.d, c.size)
			})
		}
	})

	t.Run("never overwritten", func(t *testing.T) {
		s := open(t)
		b := data(5000, 3)
		d := digest(b)
		if err := evidence.Put(ctx, s, d, int64(len(b)), bytes.NewReader(b)); err != nil {
			t.Fatal(err)
		}
		for _, body := range [][]byte{b, data(5000, 4)} {
			if err := evidence.Put(ctx, s, d, int64(len(body)), bytes.NewReader(body)); !errors.Is(err, evidence.ErrExists) {
				t.Errorf("second Put: %v, want ErrExists", err)
			}
			if _, err := s.Write(ctx, d, int64(len(body)), 0, bytes.NewReader(body)); !errors.Is(err, evidence.ErrExists) {
				t.Errorf("Write over a stored object: %v, want ErrExists", err)
			}
		}
		if got := readAll(t, s, d, 0, -1); !bytes.Equal(got, b) {
			t.Error("the stored object changed")
		}
	})

	t.Run("truncated upload is held apart, then resumed", func(t *testing.T) {
		s := open(t)
		d, size := digest(big), int64(len(big))
		sent := int64(evidence.SegmentSize + 100)
		held, err := s.Write(ctx, d, size, 0, bytes.NewReader(big[:sent]))
		if err != nil {
			t.Fatalf("Write of a prefix: %v", err)
		}
		if held > sent || held < sent-evidence.SegmentSize {
			t.Fatalf("held %d after sending %d", held, sent)
		}
		if _, err := s.Stat(ctx, d); !errors.Is(err, evidence.ErrNotFound) {
			t.Fatalf("an unfinished upload is visible: Stat: %v", err)
		}
		if off, err := s.Offset(ctx, d, size); err != nil || off != held {
			t.Fatalf("Offset = %d, %v; want %d", off, err, held)
		}
		var oe *evidence.OffsetError
		if _, err := s.Write(ctx, d, size, held+1, bytes.NewReader(big[held+1:])); !errors.As(err, &oe) || oe.Held != held {
			t.Fatalf("Write at the wrong offset: %v, want an OffsetError holding %d", err, held)
		}
		if _, err := s.Write(ctx, d, size, 0, bytes.NewReader(big)); !errors.As(err, &oe) {
			t.Fatalf("Write from 0 over held bytes: %v, want an OffsetError", err)
		}
		if got, err := s.Write(ctx, d, size, held, bytes.NewReader(big[held:])); err != nil || got != size {
			t.Fatalf("resume: %d, %v", got, err)
		}
		if got := readAll(t, s, d, 0, -1); !bytes.Equal(got, big) {
			t.Error("resumed object differs from the file")
		}
	})

	t.Run("sender that fails mid-upload resumes", func(t *testing.T) {
		s := open(t)
		b := data(evidence.SegmentSize+777, 5)
		d, size := digest(b), int64(len(b))
		cut := errors.New("connection reset")
		held, err := s.Write(ctx, d, size, 0, &stopAfter{bytes.NewReader(b[:size-10]), cut})
		if !errors.Is(err, cut) || held >= size || held < size-10-evidence.SegmentSize {
			t.Fatalf("Write cut short: held %d, %v; want the sender's error and at most %d held", held, err, size-10)
		}
		mustHide(t, s, d)
		if got, err := s.Write(ctx, d, size, held, bytes.NewReader(b[held:])); err != nil || got != size {
			t.Fatalf("resume from %d: %d, %v", held, got, err)
		}
		if got := readAll(t, s, d, 0, -1); !bytes.Equal(got, b) {
			t.Error("resumed object differs from the file")
		}
	})

	t.Run("abort drops the unfinished upload", func(t *testing.T) {
		s := open(t)
		d, size := digest(big), int64(len(big))
		if _, err := s.Write(ctx, d, size, 0, bytes.NewReader(big[:evidence.SegmentSize])); err != nil {
			t.Fatal(err)
		}
		if err := s.Abort(ctx, d); err != nil {
			t.Fatal(err)
		}
		mustAbsent(t, s, d, size)
	})

	t.Run("one writer per digest", func(t *testing.T) {
		s := open(t)
		b := data(3000, 6)
		d, size := digest(b), int64(len(b))
		pr, pw := io.Pipe()
		done := make(chan error, 1)
		go func() { _, err := s.Write(ctx, d, size, 0, pr); done <- err }()
		pw.Write(b[:10]) // the first writer holds the digest now
		if _, err := s.Write(ctx, d, size, 0, bytes.NewReader(b)); !errors.Is(err, evidence.ErrBusy) {
			t.Errorf("second writer: %v, want ErrBusy", err)
		}
		pw.Write(b[10:])
		pw.Close()
		if err := <-done; err != nil {
			t.Fatalf("first writer: %v", err)
		}
		if got := readAll(t, s, d, 0, -1); !bytes.Equal(got, b) {
			t.Error("object differs")
		}
	})
}

func mustHide(t *testing.T, s evidence.Store, d evidence.Digest) {
	t.Helper()
	if _, err := s.Stat(context.Background(), d); !errors.Is(err, evidence.ErrNotFound) {
		t.Fatalf("unfinished upload visible: Stat: %v", err)
	}
}

// The directory store's own promises: modes, and the unfinished upload
// kept out of objects/.
func TestDirFiles(t *testing.T) {
	root := t.TempDir()
	s, err := evidence.NewDir(root)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	b := data(4096, 7)
	d := digest(b)
	if _, err := s.Write(ctx, d, int64(len(b)), 0, bytes.NewReader(b[:100])); err != nil {
		t.Fatal(err)
	}
	if ents, _ := os.ReadDir(filepath.Join(root, "objects")); len(ents) != 0 {
		t.Errorf("objects/ holds %d names during an unfinished upload", len(ents))
	}
	if _, err := s.Write(ctx, d, int64(len(b)), 100, bytes.NewReader(b[100:])); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(filepath.Join(root, "objects", d.String()))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("object mode %v, want 0600", fi.Mode().Perm())
	}
	if ents, _ := os.ReadDir(filepath.Join(root, "partial")); len(ents) != 0 {
		t.Errorf("partial/ keeps %d names after the upload finished", len(ents))
	}
}
