package mvmclient

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/mvm-exchange/mvm/internal/fanout"
	mvmv1 "github.com/mvm-exchange/mvm/proto/mvm/v1"
)

// EvidenceChunk is the data size of one upload message: the memory an
// upload holds on this side, whatever the file's size.
const EvidenceChunk = 256 << 10

// UploadResult says how an upload went.
type UploadResult struct {
	// From is the offset sent from: what the server held before (0 for a
	// fresh upload, more for a resumed one, Size when already stored).
	From int64
	// Stored: the server has the whole file, its digest checked.
	Stored bool
	// Held is what the server holds afterwards.
	Held int64
	// Sum is the SHA-256 of the bytes (UploadEvidenceOnePass).
	Sum []byte
}

// UploadEvidence stores the size bytes of r, whose SHA-256 is sha256, as
// an evidence file of package pkg. It asks the server how much it holds
// and sends only the rest, so calling it again after an interruption
// resumes the upload. A file already stored is not sent again.
func (c *Client) UploadEvidence(ctx context.Context, pkg string, sha256 []byte, size int64, r io.ReaderAt) (UploadResult, error) {
	st, err := c.API.EvidenceStatus(ctx, &mvmv1.EvidenceStatusRequest{PackageId: pkg, Sha256: sha256, Size: size})
	if err != nil {
		return UploadResult{}, err
	}
	res := UploadResult{From: st.Offset, Held: st.Offset, Stored: st.Stored}
	if st.Stored {
		return res, nil
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := c.API.UploadEvidence(ctx)
	if err != nil {
		return res, err
	}
	first := &mvmv1.UploadEvidenceRequest{PackageId: pkg, Sha256: sha256, Size: size, Offset: st.Offset}
	buf := make([]byte, EvidenceChunk)
	for off := st.Offset; off < size || first != nil; {
		n, err := r.ReadAt(buf[:min(int64(len(buf)), size-off)], off)
		if err != nil && !(errors.Is(err, io.EOF) && int64(n) == size-off) {
			return res, fmt.Errorf("reading the file at offset %d: %w", off, err)
		}
		m := &mvmv1.UploadEvidenceRequest{Data: buf[:n]}
		if first != nil { // the first message names the file
			m = first
			m.Data = buf[:n]
			first = nil
		}
		// Send copies the message into gRPC's buffers before it returns.
		if err := stream.Send(m); err != nil {
			break // the server ended the stream; CloseAndRecv says why
		}
		off += int64(n)
	}
	return closeUpload(stream, size, res)
}

// DownloadEvidence writes length bytes (0: to the end) of package pkg's
// evidence file sha256 from offset off to w, and returns the file's size.
// The caller checks the digest: the bytes are the server's word until then.
func (c *Client) DownloadEvidence(ctx context.Context, pkg string, sha256 []byte, off, length int64, w io.Writer) (int64, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := c.API.DownloadEvidence(ctx, &mvmv1.DownloadEvidenceRequest{PackageId: pkg, Sha256: sha256, Offset: off, Length: length})
	if err != nil {
		return 0, err
	}
	head, err := stream.Recv()
	if err != nil {
		return 0, err
	}
	if len(head.Data) > 0 || head.Size < 0 {
		return 0, errors.New("evidence download: the server's first message is not a header")
	}
	want := length
	if want == 0 {
		want = head.Size - off
	}
	var got int64
	// One message decoded into again and again: its data's array is
	// reused (chunkcodec), so a download makes no garbage per message.
	// w does not keep what it is given (io.Writer).
	m := new(mvmv1.DownloadEvidenceResponse)
	for {
		err := stream.RecvMsg(m)
		if errors.Is(err, io.EOF) {
			if got != want {
				return head.Size, fmt.Errorf("evidence download: %d of %d bytes before the stream ended: %w", got, want, io.ErrUnexpectedEOF)
			}
			return head.Size, nil
		}
		if err != nil {
			return head.Size, err
		}
		if got += int64(len(m.Data)); got > want {
			return head.Size, fmt.Errorf("evidence download: more than the %d bytes asked for", want)
		}
		if _, err := w.Write(m.Data); err != nil {
			return head.Size, fmt.Errorf("evidence download: %w", err)
		}
	}
}

// UploadEvidenceOnePass stores size bytes that write produces as an
// evidence file of package pkg, read once: write gives them all, from the
// first, to the writer it is handed, which hashes every byte and sends
// those the server does not hold yet (so a resumed upload rebuilds the
// digest of the held prefix from the source, and sends only the rest);
// the SHA-256 of all the bytes goes last, and the server checks it before
// the file is stored under it. key names the upload across runs (the
// same file, the same key, so a second run resumes the first); the
// server holds it apart per caller. If the bytes the server held were not
// these (the file changed between runs), the server drops them and the
// upload starts again from 0, once. Result.Sum is the digest.
func (c *Client) UploadEvidenceOnePass(ctx context.Context, pkg string, key []byte, size int64, write func(io.Writer) error) (UploadResult, error) {
	res, err := c.uploadOnePass(ctx, pkg, key, size, write)
	if err != nil && res.From > 0 && status.Code(err) == codes.InvalidArgument {
		if st, serr := c.API.EvidenceStatus(ctx, &mvmv1.EvidenceStatusRequest{PackageId: pkg, UploadKey: key, Size: size}); serr == nil && st.Offset == 0 {
			return c.uploadOnePass(ctx, pkg, key, size, write)
		}
	}
	return res, err
}

func (c *Client) uploadOnePass(ctx context.Context, pkg string, key []byte, size int64, write func(io.Writer) error) (UploadResult, error) {
	st, err := c.API.EvidenceStatus(ctx, &mvmv1.EvidenceStatusRequest{PackageId: pkg, UploadKey: key, Size: size})
	if err != nil {
		return UploadResult{}, err
	}
	res := UploadResult{From: st.Offset, Held: st.Offset}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// The stream opens with its first message, once the bytes the server
	// holds are hashed again: the server ends an upload that sends
	// nothing for its idle timeout, which a long resumed file could pass.
	w := &sendWriter{open: func() (grpc.ClientStreamingClient[mvmv1.UploadEvidenceRequest, mvmv1.UploadEvidenceResponse], error) {
		return c.API.UploadEvidence(ctx)
	}, skip: st.Offset, buf: make([]byte, 0, EvidenceChunk),
		first: &mvmv1.UploadEvidenceRequest{PackageId: pkg, UploadKey: key, Size: size, Offset: st.Offset}}
	// The digest is computed while the bytes are framed and sent, and
	// both while write produces the next ones (sealing them): three
	// goroutines, uploadBlocks blocks of memory.
	h := sha256.New()
	fw := fanout.NewWriter(uploadBlock, uploadBlocks, h, w)
	werr := write(fw)
	if cerr := fw.Close(); werr == nil {
		werr = cerr
	}
	if werr == nil && w.n != size {
		werr = fmt.Errorf("the file gave %d bytes, not the %d announced (it changed while it was read?)", w.n, size)
	}
	if werr != nil && w.sendErr == nil {
		return res, werr // nothing the server said: the source failed
	}
	if werr == nil {
		res.Sum = h.Sum(nil)
		w.send(res.Sum) // a failure shows in CloseAndRecv
	}
	if w.stream == nil {
		return res, w.sendErr // the stream did not open
	}
	return closeUpload(w.stream, size, res)
}

// The blocks an upload hands to its hashing and sending goroutines: four
// messages each, so that whole messages are sent from them.
const (
	uploadBlock  = 4 * EvidenceChunk
	uploadBlocks = 4
)

// sendWriter sends what lies past skip, in messages of up to
// EvidenceChunk bytes.
type sendWriter struct {
	open    func() (grpc.ClientStreamingClient[mvmv1.UploadEvidenceRequest, mvmv1.UploadEvidenceResponse], error)
	stream  grpc.ClientStreamingClient[mvmv1.UploadEvidenceRequest, mvmv1.UploadEvidenceResponse]
	first   *mvmv1.UploadEvidenceRequest
	skip, n int64
	buf     []byte
	sendErr error
}

func (w *sendWriter) Write(p []byte) (int, error) {
	if w.sendErr != nil {
		return 0, w.sendErr
	}
	k := len(p)
	if held := w.skip - w.n; held > 0 { // the server holds these already
		p = p[min(int64(len(p)), held):]
	}
	w.n += int64(k)
	for len(p) > 0 {
		if len(w.buf) == 0 && len(p) >= cap(w.buf) {
			// A whole message from p as it is: Send copies it anyway.
			if err := w.sendData(p[:cap(w.buf)], nil); err != nil {
				return 0, err
			}
			p = p[cap(w.buf):]
			continue
		}
		c := copy(w.buf[len(w.buf):cap(w.buf)], p)
		w.buf, p = w.buf[:len(w.buf)+c], p[c:]
		if len(w.buf) == cap(w.buf) {
			if err := w.send(nil); err != nil {
				return 0, err
			}
		}
	}
	return k, nil
}

// send sends what is buffered, and sum if not nil (the last message).
func (w *sendWriter) send(sum []byte) error {
	if err := w.sendData(w.buf, sum); err != nil {
		return err
	}
	w.buf = w.buf[:0]
	return nil
}

func (w *sendWriter) sendData(data, sum []byte) error {
	m := &mvmv1.UploadEvidenceRequest{Data: data, Sha256: sum}
	if w.first != nil { // the first message names the upload, and opens it
		if w.stream, w.sendErr = w.open(); w.sendErr != nil {
			return w.sendErr
		}
		m, w.first = w.first, nil
		m.Data, m.Sha256 = data, sum
	}
	// Send copies the message into gRPC's buffers before it returns.
	if err := w.stream.Send(m); err != nil {
		w.sendErr = err // the server ended the stream; CloseAndRecv says why
		return err
	}
	return nil
}

// closeUpload ends an upload stream and completes res with what the server
// says it holds; an upload the server did not store whole is an error that
// tells the caller to resume.
func closeUpload(stream grpc.ClientStreamingClient[mvmv1.UploadEvidenceRequest, mvmv1.UploadEvidenceResponse], size int64, res UploadResult) (UploadResult, error) {
	resp, err := stream.CloseAndRecv()
	if err != nil {
		return res, err
	}
	res.Held, res.Stored = resp.Offset, resp.Stored
	if !resp.Stored {
		return res, fmt.Errorf("the server holds %d of the file's %d bytes: run again to resume", resp.Offset, size)
	}
	return res, nil
}
