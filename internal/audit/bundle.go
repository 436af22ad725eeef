package audit

import (
	"bufio"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"os"

	"google.golang.org/protobuf/encoding/protodelim"

	mvmv1 "github.com/mvm-exchange/mvm/proto/mvm/v1"
)

// BundleFormat names the offline audit bundle format.
const BundleFormat = "mvm-bundle/v1"

// BundleWriter writes an offline audit bundle: a header, every leaf in
// order, then the signer certificates, as size-delimited BundleRecords.
type BundleWriter struct {
	w     *bufio.Writer
	next  uint64
	size  uint64
	certs map[string]bool
}

// NewBundleWriter writes the header for a log of size entries with its
// signed checkpoint (cosignatures included).
func NewBundleWriter(w io.Writer, size uint64, checkpoint []byte) (*BundleWriter, error) {
	b := &BundleWriter{w: bufio.NewWriterSize(w, 1<<20), size: size, certs: map[string]bool{}}
	return b, b.put(&mvmv1.BundleRecord{Record: &mvmv1.BundleRecord_Header{Header: &mvmv1.BundleHeader{
		Format: BundleFormat, Size: size, Checkpoint: checkpoint}}})
}

func (b *BundleWriter) put(r *mvmv1.BundleRecord) error {
	_, err := protodelim.MarshalTo(b.w, r)
	return err
}

// Leaf appends the next leaf.
func (b *BundleWriter) Leaf(leaf []byte) error {
	if b.next >= b.size {
		return fmt.Errorf("bundle: more than %d leaves", b.size)
	}
	b.next++
	return b.put(&mvmv1.BundleRecord{Record: &mvmv1.BundleRecord_Leaf{Leaf: leaf}})
}

// Certificate appends a signer certificate (duplicates are skipped).
func (b *BundleWriter) Certificate(der []byte) error {
	sum := sha256.Sum256(der)
	if b.certs[string(sum[:])] {
		return nil
	}
	b.certs[string(sum[:])] = true
	return b.put(&mvmv1.BundleRecord{Record: &mvmv1.BundleRecord_Certificate{Certificate: der}})
}

// Close flushes; it fails if fewer leaves than announced were written.
func (b *BundleWriter) Close() error {
	if b.next != b.size {
		return fmt.Errorf("bundle: %d leaves written, header announced %d", b.next, b.size)
	}
	return b.w.Flush()
}

// Bundle is an offline audit bundle opened for reading. It is a Source:
// certificates are held in memory (one per identity), leaves are streamed
// from the file on each Entries call.
type Bundle struct {
	path   string
	Header *mvmv1.BundleHeader
	certs  map[string][]byte
}

// OpenBundle reads a bundle's header and certificates.
func OpenBundle(path string) (*Bundle, error) {
	b := &Bundle{path: path, certs: map[string][]byte{}}
	err := b.scan(func(r *mvmv1.BundleRecord) error {
		if c := r.GetCertificate(); c != nil {
			sum := sha256.Sum256(c)
			b.certs[string(sum[:])] = c
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return b, nil
}

// scan reads every record, checking the header first.
func (b *Bundle) scan(fn func(*mvmv1.BundleRecord) error) error {
	f, err := os.Open(b.path)
	if err != nil {
		return fmt.Errorf("bundle: %w", err)
	}
	defer f.Close()
	r := bufio.NewReaderSize(f, 1<<20)
	opts := protodelim.UnmarshalOptions{MaxSize: 1 << 20}
	for i := 0; ; i++ {
		rec := &mvmv1.BundleRecord{}
		err := opts.UnmarshalFrom(r, rec)
		if errors.Is(err, io.EOF) {
			if i == 0 {
				return errors.New("bundle: empty file")
			}
			return nil
		}
		if err != nil {
			return fmt.Errorf("bundle: record %d: %w", i, err)
		}
		if i == 0 {
			h := rec.GetHeader()
			if h == nil || h.Format != BundleFormat {
				return fmt.Errorf("bundle: %s is not an %s file", b.path, BundleFormat)
			}
			b.Header = h
			continue
		}
		if rec.GetHeader() != nil {
			return fmt.Errorf("bundle: record %d: a second header", i)
		}
		if err := fn(rec); err != nil {
			return err
		}
	}
}

var errDone = errors.New("done")

// Entries streams leaves [start, end) from the file, each read into
// memory of its own.
func (b *Bundle) Entries(ctx context.Context, start, end uint64, fn func(uint64, []byte) error) error {
	var i uint64
	err := b.scan(func(r *mvmv1.BundleRecord) error {
		leaf := r.GetLeaf()
		if leaf == nil {
			return nil
		}
		defer func() { i++ }()
		if i < start {
			return nil
		}
		if i >= end {
			return errDone
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		return fn(i, leaf)
	})
	if err != nil && !errors.Is(err, errDone) {
		return err
	}
	if i < end {
		return fmt.Errorf("bundle: holds %d leaves, %d wanted", i, end)
	}
	return nil
}

// Certificate returns a certificate by SHA-256.
func (b *Bundle) Certificate(_ context.Context, sha []byte) ([]byte, error) {
	if c, ok := b.certs[string(sha)]; ok {
		return c, nil
	}
	return nil, fmt.Errorf("bundle: no certificate with SHA-256 %x", sha)
}
