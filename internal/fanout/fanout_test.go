package fanout

import (
	"bytes"
	"crypto/rand"
	"errors"
	"io"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// sizes records the size of every write it is given.
type sizes struct {
	bytes.Buffer
	writes []int
}

func (s *sizes) Write(p []byte) (int, error) {
	s.writes = append(s.writes, len(p))
	return s.Buffer.Write(p)
}

func TestEveryWriterGetsEveryByte(t *testing.T) {
	data := make([]byte, 1<<20+12345)
	rand.Read(data)
	for _, test := range []struct {
		name          string
		block, blocks int
		writes        []int // sizes of the caller's writes, repeated
		n             int   // bytes written
	}{
		{"one byte at a time", 64, 2, []int{1}, 1000},
		{"writes across blocks", 4096, 3, []int{1000, 7000, 3, 4096}, len(data)},
		{"whole blocks", 4096, 4, []int{4096}, 64 * 4096},
		{"one large write", 1 << 16, 2, []int{len(data)}, len(data)},
		{"empty", 4096, 2, []int{1}, 0},
	} {
		t.Run(test.name, func(t *testing.T) {
			a, b := new(sizes), new(sizes)
			w := NewWriter(test.block, test.blocks, a, b)
			for i, off := 0, 0; off < test.n; i++ {
				k := min(test.writes[i%len(test.writes)], test.n-off)
				if n, err := w.Write(data[off : off+k]); n != k || err != nil {
					t.Fatalf("Write(%d bytes) = %d, %v", k, n, err)
				}
				off += k
			}
			if err := w.Close(); err != nil {
				t.Fatalf("Close: %v", err)
			}
			for _, s := range []*sizes{a, b} {
				if !bytes.Equal(s.Bytes(), data[:test.n]) {
					t.Fatalf("a writer got %d bytes, not the %d written", s.Len(), test.n)
				}
				for i, n := range s.writes {
					if n > test.block || (n < test.block && i != len(s.writes)-1) {
						t.Fatalf("write %d of %d has %d bytes, block %d", i, len(s.writes), n, test.block)
					}
				}
			}
			if _, err := w.Write([]byte{1}); !errors.Is(err, ErrClosed) {
				t.Fatalf("Write after Close: %v, want ErrClosed", err)
			}
		})
	}
}

func TestReadFrom(t *testing.T) {
	data := make([]byte, 100_000)
	rand.Read(data)
	for _, test := range []struct {
		name string
		n    int
	}{
		{"blocks and a partial one", len(data)},
		{"whole blocks", 4 * 4096},
		{"empty", 0},
	} {
		t.Run(test.name, func(t *testing.T) {
			a, b := new(sizes), new(sizes)
			w := NewWriter(4096, 2, a, b)
			// A reader that gives few bytes at a time, so blocks fill
			// over several reads.
			n, err := io.Copy(w, io.LimitReader(iotestHalf{bytes.NewReader(data)}, int64(test.n)))
			if n != int64(test.n) || err != nil {
				t.Fatalf("io.Copy = %d, %v; want %d, nil", n, err, test.n)
			}
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			for _, s := range []*sizes{a, b} {
				if !bytes.Equal(s.Bytes(), data[:test.n]) {
					t.Fatalf("a writer got %d bytes, not the %d read", s.Len(), test.n)
				}
			}
		})
	}
	t.Run("what is read is written at once", func(t *testing.T) {
		got := make(chan struct{})
		w := NewWriter(4096, 2, writerFunc(func(p []byte) (int, error) {
			if len(p) == 10 {
				close(got)
			}
			return len(p), nil
		}))
		defer w.Close()
		// Ten bytes, then a read that waits until the writer has them.
		second := readerFunc(func(p []byte) (int, error) {
			select {
			case <-got:
				return 0, io.EOF
			case <-time.After(10 * time.Second):
				return 0, errors.New("the ten bytes read were not written while the next read waited")
			}
		})
		if _, err := w.ReadFrom(io.MultiReader(bytes.NewReader(data[:10]), second)); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("reader error", func(t *testing.T) {
		boom := errors.New("stream reset")
		w := NewWriter(4096, 2, io.Discard)
		defer w.Close()
		r := io.MultiReader(bytes.NewReader(data[:5000]), iotestErr{boom})
		if n, err := w.ReadFrom(r); n != 5000 || !errors.Is(err, boom) {
			t.Fatalf("ReadFrom = %d, %v; want 5000, %v", n, err, boom)
		}
	})
}

// iotestHalf reads at most 1000 bytes at a time.
type iotestHalf struct{ r io.Reader }

func (h iotestHalf) Read(p []byte) (int, error) { return h.r.Read(p[:min(len(p), 1000)]) }

type iotestErr struct{ err error }

func (e iotestErr) Read([]byte) (int, error) { return 0, e.err }

// failing fails its writes from the after-th on.
type failing struct {
	after, calls int
	err          error
}

func (f *failing) Write(p []byte) (int, error) {
	if f.calls++; f.calls > f.after {
		return 0, f.err
	}
	return len(p), nil
}

func TestFirstErrorReturned(t *testing.T) {
	for _, test := range []struct {
		name  string
		after int
	}{
		{"first block", 0},
		{"later block", 5},
	} {
		t.Run(test.name, func(t *testing.T) {
			boom := errors.New("disk full")
			bad, good := &failing{after: test.after, err: boom}, new(sizes)
			w := NewWriter(1024, 2, good, bad)
			var werr error
			for range 100 {
				if _, werr = w.Write(make([]byte, 1024)); werr != nil {
					break
				}
			}
			if !errors.Is(werr, boom) {
				t.Fatalf("100 writes after a failing writer: %v, want %v", werr, boom)
			}
			if err := w.Close(); !errors.Is(err, boom) {
				t.Fatalf("Close: %v, want %v", err, boom)
			}
			if bad.calls > test.after+1 {
				t.Fatalf("the failed writer was called %d times after its failure", bad.calls-test.after-1)
			}
		})
	}
	t.Run("short write", func(t *testing.T) {
		w := NewWriter(16, 2, writerFunc(func(p []byte) (int, error) { return len(p) - 1, nil }))
		w.Write(make([]byte, 10))
		if err := w.Close(); !errors.Is(err, io.ErrShortWrite) {
			t.Fatalf("Close: %v, want io.ErrShortWrite", err)
		}
	})
}

type readerFunc func([]byte) (int, error)

func (f readerFunc) Read(p []byte) (int, error) { return f(p) }

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

// TestConcurrentAndBounded: the writers run at the same time (a writer
// that waits for the other's first block would wait forever one after the
// other), and a writer that stops holds the caller once every block is in
// use.
func TestConcurrentAndBounded(t *testing.T) {
	const block, blocks = 1024, 3
	bWrote := make(chan struct{})
	var once sync.Once
	release := make(chan struct{})
	a := writerFunc(func(p []byte) (int, error) {
		<-bWrote // needs b to run beside it
		<-release
		return len(p), nil
	})
	b := writerFunc(func(p []byte) (int, error) {
		once.Do(func() { close(bWrote) })
		return len(p), nil
	})
	w := NewWriter(block, blocks, a, b)
	var written atomic.Int64
	done := make(chan error, 1)
	go func() {
		for range 10 {
			if _, err := w.Write(make([]byte, block)); err != nil {
				done <- err
				return
			}
			written.Add(block)
		}
		done <- w.Close()
	}()
	select {
	case <-bWrote:
	case <-time.After(10 * time.Second):
		t.Fatal("the second writer did not run while the first was busy")
	}
	// a holds its first block: the caller fills the others and one more
	// Write waits for a free block.
	deadline := time.Now().Add(10 * time.Second)
	for written.Load() < blocks*block && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	time.Sleep(50 * time.Millisecond)
	if got := written.Load(); got != blocks*block {
		t.Fatalf("with a writer stopped, %d bytes accepted, want %d (%d blocks)", got, blocks*block, blocks)
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if got := written.Load(); got != 10*block {
		t.Fatalf("%d bytes written, want %d", got, 10*block)
	}
}

// TestBlocksMadeAsNeeded: a writer given less than a block holds one
// block, not all it may (an upload whose client stalls after its first
// message holds one), and writes that its writers keep up with reuse it.
func TestBlocksMadeAsNeeded(t *testing.T) {
	var out bytes.Buffer
	w := NewWriter(1024, 8, &out)
	if _, err := w.Write(make([]byte, 100)); err != nil {
		t.Fatal(err)
	}
	if w.made != 1 {
		t.Errorf("%d blocks made for 100 bytes, want 1", w.made)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if out.Len() != 100 {
		t.Errorf("%d bytes written, want 100", out.Len())
	}
}
