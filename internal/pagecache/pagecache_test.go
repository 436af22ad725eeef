package pagecache

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
)

// pattern is n bytes that differ from one offset to the next.
func pattern(n int) []byte {
	b := make([]byte, n)
	r := rand.New(rand.NewPCG(1, 2))
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

func TestWriterReader(t *testing.T) {
	data := pattern(3*Window + 12345)
	for _, test := range []struct {
		name  string
		start int64 // bytes already in the file
		piece int   // size of each Write
	}{
		{"from 0, 128 KiB writes", 0, 128 << 10},
		{"from 0, odd writes", 0, 100003},
		{"resumed at an odd offset", 77777, 1 << 20},
		{"one write larger than two windows", 0, 2*Window + 1},
	} {
		t.Run(test.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "f")
			if err := os.WriteFile(path, data[:test.start], 0o600); err != nil {
				t.Fatal(err)
			}
			f, err := os.OpenFile(path, os.O_RDWR, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			w := NewWriter(f, test.start)
			for p := data[test.start:]; len(p) > 0; {
				k := min(test.piece, len(p))
				n, err := w.Write(p[:k])
				if n != k || err != nil {
					t.Fatalf("Write of %d bytes: %d, %v", k, n, err)
				}
				p = p[k:]
			}
			if w.Offset() != int64(len(data)) {
				t.Errorf("Offset %d, want %d", w.Offset(), len(data))
			}
			if err := f.Sync(); err != nil {
				t.Fatal(err)
			}
			got, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, data) {
				t.Fatalf("the file holds %d bytes, not the %d written", len(got), len(data))
			}
			// Read back a section, in pieces of the same size.
			off, n := test.start/2, int64(len(data))-test.start/2-5
			var out bytes.Buffer
			r := NewReader(f, off, n)
			buf := make([]byte, test.piece)
			if _, err := io.CopyBuffer(&out, struct{ io.Reader }{r}, buf); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(out.Bytes(), data[off:off+n]) {
				t.Errorf("read %d bytes, not the section's %d", out.Len(), n)
			}
		})
	}
}

// A section longer than the file: the reader says it was cut short.
func TestReaderShortFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(path, pattern(1000), 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	got, err := io.ReadAll(NewReader(f, 10, 2000))
	if !errors.Is(err, io.ErrUnexpectedEOF) || len(got) != 990 {
		t.Errorf("got %d bytes, %v; want 990 and io.ErrUnexpectedEOF", len(got), err)
	}
}
