package mvmclient

import (
	"context"
	"errors"
	"fmt"
	"io"

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
	for {
		m, err := stream.Recv()
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
