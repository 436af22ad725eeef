package evidence

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// SegmentSize is the block in which the S3 store holds an unfinished
// upload: each full block is one object under partial/, so an upload
// resumes from a block boundary, and a writer holds at most two blocks in
// memory (one being PUT while the next is received). It is above S3's 5 MiB minimum part, so the blocks compose into
// the finished object by a server-side copy.
const SegmentSize = 8 << 20

// S3 is a [Store] in a bucket of an S3-compatible object store: finished
// objects at objects/<hex digest>, unfinished uploads as blocks at
// partial/<hex digest>/<offset>. An object is composed from its blocks
// (a copy inside the object store) only after the digest of the blocks
// was checked, and only when objects/<hex> does not exist. The lock that
// keeps two writers of one digest apart is in this process: a bucket is
// written by one server.
type S3 struct {
	c      *minio.Client
	bucket string
	locks  *Locks
}

// NewS3 connects to the bucket named by rawURL, https://HOST:PORT/BUCKET
// (or http:// on a trusted network), with credentials from the
// AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and AWS_REGION variables. The
// bucket must exist.
func NewS3(ctx context.Context, rawURL string) (*S3, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("--evidence-s3 %q: %w", rawURL, err)
	}
	bucket := strings.Trim(u.Path, "/")
	if (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || bucket == "" || strings.Contains(bucket, "/") {
		return nil, fmt.Errorf("--evidence-s3 %q: want https://HOST:PORT/BUCKET (or http:// on a trusted network)", rawURL)
	}
	c, err := minio.New(u.Host, &minio.Options{
		Creds:        credentials.NewEnvAWS(),
		Secure:       u.Scheme == "https",
		Region:       os.Getenv("AWS_REGION"),
		BucketLookup: minio.BucketLookupPath,
	})
	if err != nil {
		return nil, fmt.Errorf("--evidence-s3 %q: %w", rawURL, err)
	}
	ok, err := c.BucketExists(ctx, bucket)
	if err != nil {
		return nil, fmt.Errorf("--evidence-s3 %q: checking the bucket (credentials come from AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY): %w", rawURL, err)
	}
	if !ok {
		return nil, fmt.Errorf("--evidence-s3 %q: no bucket %q: create it first", rawURL, bucket)
	}
	return &S3{c: c, bucket: bucket, locks: new(Locks)}, nil
}

func (s *S3) object(d Digest) string        { return "objects/" + d.String() }
func (s *S3) partialPrefix(d Digest) string { return "partial/" + d.String() + "/" }
func (s *S3) block(d Digest, off int64) string {
	return fmt.Sprintf("%s%020d", s.partialPrefix(d), off)
}
func notFound(err error) bool { return minio.ToErrorResponse(err).StatusCode == 404 }
func (s *S3) wrap(d Digest, err error) error {
	return fmt.Errorf("evidence %s in bucket %s: %w", d, s.bucket, err)
}
func (s *S3) stat(ctx context.Context, d Digest) (minio.ObjectInfo, error) {
	return s.c.StatObject(ctx, s.bucket, s.object(d), minio.StatObjectOptions{})
}

// Stat implements [Store].
func (s *S3) Stat(ctx context.Context, d Digest) (int64, error) {
	oi, err := s.stat(ctx, d)
	if notFound(err) {
		return 0, fmt.Errorf("%s: %w", d, ErrNotFound)
	}
	if err != nil {
		return 0, s.wrap(d, err)
	}
	return oi.Size, nil
}

// Open implements [Store].
func (s *S3) Open(ctx context.Context, d Digest, off, n int64) (io.ReadCloser, error) {
	size, err := s.Stat(ctx, d)
	if err != nil {
		return nil, err
	}
	if n, err = checkRange(size, off, n); err != nil {
		return nil, s.wrap(d, err)
	}
	if n == 0 {
		return io.NopCloser(bytes.NewReader(nil)), nil
	}
	var opts minio.GetObjectOptions
	if err := opts.SetRange(off, off+n-1); err != nil {
		return nil, s.wrap(d, err)
	}
	o, err := s.c.GetObject(ctx, s.bucket, s.object(d), opts)
	if err != nil {
		return nil, s.wrap(d, err)
	}
	return o, nil
}

type block struct {
	key       string
	off, size int64
}

// blocks lists the contiguous blocks held of d's upload, from offset 0.
func (s *S3) blocks(ctx context.Context, d Digest) ([]block, error) {
	var bs []block
	for oi := range s.c.ListObjects(ctx, s.bucket, minio.ListObjectsOptions{Prefix: s.partialPrefix(d), Recursive: true}) {
		if oi.Err != nil {
			return nil, s.wrap(d, oi.Err)
		}
		off, err := strconv.ParseInt(strings.TrimPrefix(oi.Key, s.partialPrefix(d)), 10, 64)
		if err != nil {
			continue // not a block of ours
		}
		bs = append(bs, block{key: oi.Key, off: off, size: oi.Size})
	}
	sort.Slice(bs, func(i, j int) bool { return bs[i].off < bs[j].off })
	var next int64
	for i, b := range bs {
		if b.off != next {
			return bs[:i], nil // a block written after a gap is not held
		}
		next += b.size
	}
	return bs, nil
}

func held(bs []block) int64 {
	if len(bs) == 0 {
		return 0
	}
	return bs[len(bs)-1].off + bs[len(bs)-1].size
}

// Offset implements [Store].
func (s *S3) Offset(ctx context.Context, d Digest, size int64) (int64, error) {
	if err := checkSize(size); err != nil {
		return 0, err
	}
	if _, err := s.stat(ctx, d); err == nil {
		return 0, fmt.Errorf("%s: %w", d, ErrExists)
	} else if !notFound(err) {
		return 0, s.wrap(d, err)
	}
	bs, err := s.blocks(ctx, d)
	if err != nil {
		return 0, err
	}
	if h := held(bs); h > size {
		return 0, fmt.Errorf("evidence %s: %d bytes held, more than the declared %d: %w", d, h, size, ErrTooLong)
	}
	return held(bs), nil
}

var segments = sync.Pool{New: func() any { b := make([]byte, SegmentSize); return &b }}

// Write implements [Store]. Bytes that do not fill a block and do not end
// the object are not held: the upload resumes from the last full block.
func (s *S3) Write(ctx context.Context, d Digest, size, off int64, r io.Reader) (int64, error) {
	return s.WriteAs(ctx, d, size, off, r, known(d))
}

// WriteAs implements [Store]: d is the key the upload is held under.
func (s *S3) WriteAs(ctx context.Context, d Digest, size, off int64, r io.Reader, digest func() (Digest, error)) (int64, error) {
	if err := checkSize(size); err != nil {
		return 0, err
	}
	if err := s.locks.Lock(d); err != nil {
		return 0, fmt.Errorf("%s: %w", d, err)
	}
	defer s.locks.Unlock(d)
	if _, err := s.Offset(ctx, d, size); err != nil {
		return 0, err
	}
	bs, err := s.blocks(ctx, d)
	if err != nil {
		return 0, err
	}
	h := sha256.New()
	pos := held(bs)
	if pos != off {
		return pos, &OffsetError{Held: pos, Got: off}
	}
	for _, b := range bs { // the digest covers the bytes stored, read back
		if err := s.copyBlock(ctx, h, b); err != nil {
			return pos, s.wrap(d, err)
		}
	}
	bs, pos, stopped, err := s.receive(ctx, d, size, pos, r, h, bs)
	if err != nil || stopped {
		return pos, err
	}
	var probe [1]byte
	if m, _ := io.ReadFull(r, probe[:]); m > 0 {
		s.drop(ctx, d, bs)
		return 0, fmt.Errorf("%s: more than %d bytes: %w", d, size, ErrTooLong)
	}
	want, err := digest()
	if err != nil {
		return pos, fmt.Errorf("evidence upload %s: all %d bytes held, no digest: %w", d, size, err)
	}
	if [sha256.Size]byte(h.Sum(nil)) != want {
		s.drop(ctx, d, bs)
		return 0, fmt.Errorf("%s: %w", want, ErrDigestMismatch)
	}
	if err := s.publish(ctx, d, want, bs); err != nil {
		return pos, err
	}
	return pos, s.drop(ctx, d, bs)
}

// receive reads the blocks of d's upload from r, from pos on, hashing
// them into h, and PUTs each as it is complete: the PUT of one block
// overlaps the reading of the next (two blocks of memory), so the sender
// does not wait for the object store at each block. It returns the blocks
// held and their end; stopped when r ended before size (the upload
// resumes from pos), or the error of a PUT or of r.
func (s *S3) receive(ctx context.Context, d Digest, size, pos int64, r io.Reader, h io.Writer, bs []block) ([]block, int64, bool, error) {
	type put struct {
		buf *[]byte
		b   block
	}
	puts := make(chan put) // unbuffered: one PUT in flight, one block waiting
	done := make(chan error, 1)
	var failed atomic.Bool
	held := pos
	go func() {
		var err error
		for p := range puts {
			if err == nil {
				_, err = s.c.PutObject(ctx, s.bucket, p.b.key, bytes.NewReader((*p.buf)[:p.b.size]), p.b.size, minio.PutObjectOptions{DisableMultipart: true})
				if err == nil {
					bs, held = append(bs, p.b), p.b.off+p.b.size
				} else {
					failed.Store(true)
				}
			}
			segments.Put(p.buf)
		}
		done <- err
	}()
	var rerr error
	stopped := false
	for pos < size && !failed.Load() {
		bufp := segments.Get().(*[]byte)
		buf := (*bufp)[:min(SegmentSize, size-pos)]
		n, err := io.ReadFull(r, buf)
		if n < len(buf) {
			segments.Put(bufp)
			if err != io.EOF && err != io.ErrUnexpectedEOF {
				rerr = err
			}
			stopped = true // the sender stopped: resumable from what is held
			break
		}
		h.Write(buf)
		puts <- put{bufp, block{key: s.block(d, pos), off: pos, size: int64(n)}}
		pos += int64(n)
	}
	close(puts)
	if perr := <-done; perr != nil {
		return bs, held, true, s.wrap(d, perr)
	}
	return bs, held, stopped, rerr
}

func (s *S3) copyBlock(ctx context.Context, w io.Writer, b block) error {
	o, err := s.c.GetObject(ctx, s.bucket, b.key, minio.GetObjectOptions{})
	if err != nil {
		return err
	}
	defer o.Close()
	n, err := io.Copy(w, o)
	if err == nil && n != b.size {
		err = fmt.Errorf("block %s: %d bytes, listed as %d", b.key, n, b.size)
	}
	return err
}

// publish makes objects/<hex> from the checked blocks, unless it exists.
func (s *S3) publish(ctx context.Context, key, d Digest, bs []block) error {
	if _, err := s.stat(ctx, d); err == nil {
		s.drop(ctx, key, bs)
		return fmt.Errorf("%s: %w", d, ErrExists)
	} else if !notFound(err) {
		return s.wrap(d, err)
	}
	dst := minio.CopyDestOptions{Bucket: s.bucket, Object: s.object(d)}
	var err error
	if len(bs) == 0 { // the empty object
		_, err = s.c.PutObject(ctx, s.bucket, s.object(d), bytes.NewReader(nil), 0, minio.PutObjectOptions{DisableMultipart: true})
	} else {
		srcs := make([]minio.CopySrcOptions, len(bs))
		for i, b := range bs {
			srcs[i] = minio.CopySrcOptions{Bucket: s.bucket, Object: b.key}
		}
		_, err = s.c.ComposeObject(ctx, dst, srcs...)
	}
	if err != nil {
		return s.wrap(d, fmt.Errorf("composing the checked blocks: %w", err))
	}
	return nil
}

// Abort implements [Store].
func (s *S3) Abort(ctx context.Context, d Digest) error {
	if err := s.locks.Lock(d); err != nil {
		return fmt.Errorf("%s: %w", d, err)
	}
	defer s.locks.Unlock(d)
	bs, err := s.blocks(ctx, d)
	if err != nil {
		return err
	}
	return s.drop(ctx, d, bs)
}

// drop removes the blocks of d's upload, every one listed (past a gap too).
func (s *S3) drop(ctx context.Context, d Digest, _ []block) error {
	var errs []error
	for oi := range s.c.ListObjects(ctx, s.bucket, minio.ListObjectsOptions{Prefix: s.partialPrefix(d), Recursive: true}) {
		if oi.Err != nil {
			return s.wrap(d, oi.Err)
		}
		if err := s.c.RemoveObject(ctx, s.bucket, oi.Key, minio.RemoveObjectOptions{}); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return s.wrap(d, err)
	}
	return nil
}
