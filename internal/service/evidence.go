package service

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/mvm-exchange/mvm/internal/chunkcodec"
	"github.com/mvm-exchange/mvm/internal/evidence"
	mvmv1 "github.com/mvm-exchange/mvm/proto/mvm/v1"
)

// Evidence files (issue 17). A file is stored under the SHA-256 of the
// bytes the server receives (internal/evidence), by the parties of its
// package and the mediators, the callers the package's reads admit.
//
// Guarantees:
//   - An upload holds at most one chunk of the stream in memory here (and
//     the store's blocks: two of evidence.SegmentSize for S3), whatever
//     the size.
//   - A file is stored only whole and with its digest checked; a refused
//     upload (wrong digest, more bytes than declared, over a limit) stores
//     nothing; an interrupted one is held apart and resumes from the offset
//     EvidenceStatus returns.
//   - Limits (file size, a package's bytes, a party's bytes, one
//     party's uploads at once, whatever identities it uses) are refused
//     with ResourceExhausted naming the server flag, before any byte is
//     written.
//   - An upload whose client sends no message for IdleTimeout (the
//     first included) is ended with Unavailable naming the flag; what the
//     store holds of it is kept, to resume, and its slot is free again.
//   - A party's bytes (evidence_quota.go) are what its uploads hold on the
//     store, stored and under way, in every package, as recorded in the
//     database: they count after a restart, a refused upload frees what
//     it held, and one party's bytes never count against another's.
//   - A download serves only a digest the package's log names.

// evidenceChunk is the size of a download message's data.
const evidenceChunk = 256 << 10

// EvidenceStatus returns how much of a file the server holds.
func (s *Service) EvidenceStatus(ctx context.Context, req *mvmv1.EvidenceStatusRequest) (*mvmv1.EvidenceStatusResponse, error) {
	ev, err := s.evidenceOn()
	if err != nil {
		return nil, err
	}
	caller, _ := CallerFrom(ctx)
	d, _, err := uploadRef(caller, req.PackageId, req.Sha256, req.UploadKey)
	if err != nil {
		return nil, err
	}
	if _, err := s.packageEvidence(ctx, caller, req.PackageId); err != nil {
		return nil, err
	}
	off, err := ev.opts.Store.Offset(ctx, d, req.Size)
	if errors.Is(err, evidence.ErrExists) {
		size, err := ev.opts.Store.Stat(ctx, d)
		return &mvmv1.EvidenceStatusResponse{Offset: size, Stored: true}, storeStatus(err)
	}
	if err != nil {
		return nil, storeStatus(err)
	}
	return &mvmv1.EvidenceStatusResponse{Offset: off}, nil
}

// UploadEvidence receives one file, from the offset the server holds.
func (s *Service) UploadEvidence(stream grpc.ClientStreamingServer[mvmv1.UploadEvidenceRequest, mvmv1.UploadEvidenceResponse]) error {
	ctx := stream.Context()
	ev, err := s.evidenceOn()
	if err != nil {
		return err
	}
	rx := newIdleReceiver(stream, ev.opts.IdleTimeout)
	defer rx.close()
	first := new(mvmv1.UploadEvidenceRequest)
	if err := rx.recv(first); errors.Is(err, errIdle) {
		return ev.idleStatus("before its first message")
	} else if err != nil {
		return status.Errorf(codes.InvalidArgument, "the first message must name the file: %v", err)
	}
	caller, _ := CallerFrom(ctx)
	sha := first.Sha256
	if first.UploadKey != nil {
		sha = nil // a one-pass upload's sha256 ends it: here, in its only message
	}
	d, onePass, err := uploadRef(caller, first.PackageId, sha, first.UploadKey)
	if err != nil {
		return err
	}
	switch {
	case first.Size < 0 || first.Offset < 0 || first.Offset > first.Size:
		return status.Errorf(codes.InvalidArgument, "size %d, offset %d: want 0 <= offset <= size", first.Size, first.Offset)
	case first.Size > ev.opts.MaxBytes:
		return status.Errorf(codes.ResourceExhausted, "file of %d bytes, over the limit of %d per file (server --evidence-max-bytes)", first.Size, ev.opts.MaxBytes)
	}
	in := &uploadReader{rx: rx, ev: ev, first: first, buf: first.Data}
	if onePass && first.Sha256 != nil {
		if in.final, err = evidence.ParseDigest(first.Sha256); err != nil {
			return status.Errorf(codes.InvalidArgument, "sha256: %v", err)
		}
		in.ended = true
	}
	logged, err := s.packageEvidence(ctx, caller, first.PackageId)
	if err != nil {
		return err
	}
	uri, party := caller.ID.URI(), caller.ID.Party
	if !ev.uploads.acquire(party) {
		return status.Errorf(codes.ResourceExhausted, "party %s has %d uploads under way, the limit per party, all its identities together (server --evidence-max-uploads): wait for one to end", party, ev.opts.MaxUploads)
	}
	defer ev.uploads.release(party)
	if err := ev.names.Lock(d); err != nil {
		return storeStatus(fmt.Errorf("%s: %w", d, err))
	}
	defer ev.names.Unlock(d)
	if _, err := ev.opts.Store.Offset(ctx, d, first.Size); err != nil {
		// Stored already (nothing to send, nothing to count again), or
		// more held than declared.
		return storeStatus(err)
	}
	fresh, err := ev.reserve(first.PackageId, logged, d, first.Size)
	if err != nil {
		return err
	}
	if err := s.holdForParty(ev, caller, d, first.Size); err != nil {
		if fresh {
			ev.unreserve(first.PackageId, d)
		}
		return err
	}
	digest := func() (evidence.Digest, error) { return d, nil }
	if onePass {
		digest = in.digest
	}
	held, err := ev.opts.Store.WriteAs(ctx, d, first.Size, first.Offset, in, digest)
	if in.err != nil {
		err = in.err
	}
	if onePass && errors.Is(err, evidence.ErrExists) {
		// Only the end of a one-pass upload meets this, once its digest
		// checked: the same bytes were stored already, nothing is left.
		err, held = nil, first.Size
	}
	if onePass && err == nil && held == first.Size {
		// Counted from here on under its digest, as the log will name it.
		ev.rekey(first.PackageId, d, in.final, first.Size)
	}
	final := d
	if onePass {
		final = in.final
	}
	s.settleHold(ctx, ev, d, final, err == nil && held == first.Size, err)
	if err != nil {
		if errors.Is(err, evidence.ErrDigestMismatch) || errors.Is(err, evidence.ErrTooLong) {
			ev.unreserve(first.PackageId, d)
		}
		s.log.LogAttrs(ctx, slog.LevelWarn, "evidence upload ended", slog.String("caller", uri), slog.String("package", first.PackageId),
			slog.String("sha256", d.String()), slog.Int64("held", held), slog.Int64("size", first.Size), slog.String("error", err.Error()))
		if in.err != nil {
			return in.err
		}
		if errors.Is(err, errNoDigest) {
			return status.Error(codes.FailedPrecondition, err.Error())
		}
		return storeStatus(err)
	}
	stored := held == first.Size
	if stored {
		if onePass {
			d = in.final
		}
		s.log.LogAttrs(ctx, slog.LevelInfo, "evidence stored", slog.String("caller", uri), slog.String("package", first.PackageId),
			slog.String("sha256", d.String()), slog.Int64("size", first.Size))
	}
	return stream.SendAndClose(&mvmv1.UploadEvidenceResponse{Offset: held, Stored: stored})
}

// uploadReader reads the data of an upload stream's messages in order,
// one message at a time; its io.EOF is the client closing its side.
// In a one-pass upload, the message that carries sha256 is the last.
type uploadReader struct {
	rx    *idleReceiver
	ev    *evidenceState
	first *mvmv1.UploadEvidenceRequest
	buf   []byte
	next  *mvmv1.UploadEvidenceRequest // the messages after first
	err   error                        // a refusal of a later message, reported as such
	final evidence.Digest
	ended bool // final was sent
}

// errNoDigest: a one-pass upload's bytes are all held, its digest not.
var errNoDigest = errors.New("the upload ended without the sha256 of its bytes: send it in its last message (resume at its size)")

func (r *uploadReader) digest() (evidence.Digest, error) {
	if !r.ended {
		return r.final, errNoDigest
	}
	return r.final, nil
}

func (r *uploadReader) refuse(msg string) (int, error) {
	r.err = status.Error(codes.InvalidArgument, msg)
	return 0, r.err
}

func (r *uploadReader) Read(p []byte) (int, error) {
	for len(r.buf) == 0 {
		// Decoded into the same message each time: its data's array is
		// reused (chunkcodec), which r.buf, all read, no longer needs.
		if r.next == nil {
			r.next = new(mvmv1.UploadEvidenceRequest)
		}
		m := r.next
		if err := r.rx.recv(m); errors.Is(err, errIdle) {
			r.err = r.ev.idleStatus("")
			return 0, r.err
		} else if err != nil {
			return 0, err
		}
		onePass := r.first.UploadKey != nil
		if (m.PackageId != "" && m.PackageId != r.first.PackageId) || m.Size != 0 || m.Offset != 0 || m.UploadKey != nil ||
			(!onePass && m.Sha256 != nil && !bytes.Equal(m.Sha256, r.first.Sha256)) {
			return r.refuse("only the first message of an upload names the file; the next ones carry data only (and, in a one-pass upload, the last its sha256)")
		}
		if r.ended {
			return r.refuse("the message that carries a one-pass upload's sha256 is its last")
		}
		if onePass && m.Sha256 != nil {
			d, err := evidence.ParseDigest(m.Sha256)
			if err != nil {
				return r.refuse(err.Error())
			}
			r.final, r.ended = d, true
		} else if len(m.Data) == 0 {
			// Each message restarts the idle timeout: empty ones would
			// hold the slot and the name's lock with no progress.
			return r.refuse("a message after the first carries data (or, the last of a one-pass upload, its sha256)")
		}
		r.buf = m.Data
	}
	n := copy(p, r.buf)
	r.buf = r.buf[n:]
	return n, nil
}

// DownloadEvidence streams a range of a stored file the package names.
func (s *Service) DownloadEvidence(req *mvmv1.DownloadEvidenceRequest, stream grpc.ServerStreamingServer[mvmv1.DownloadEvidenceResponse]) error {
	ctx := stream.Context()
	ev, err := s.evidenceOn()
	if err != nil {
		return err
	}
	d, err := fileRef(req.PackageId, req.Sha256)
	if err != nil {
		return err
	}
	caller, _ := CallerFrom(ctx)
	logged, err := s.packageEvidence(ctx, caller, req.PackageId)
	if err != nil {
		return err
	}
	if _, ok := logged[d]; !ok {
		// Content addressing must not let a party read another package's
		// files by their digest.
		return status.Errorf(codes.NotFound, "package %s names no evidence file %s", req.PackageId, d)
	}
	size, err := ev.opts.Store.Stat(ctx, d)
	if err != nil {
		return storeStatus(err)
	}
	n := req.Length
	if n == 0 {
		n = size - req.Offset
	}
	if req.Offset < 0 || req.Length < 0 || req.Offset > size || n > size-req.Offset {
		return status.Errorf(codes.OutOfRange, "range %d+%d is outside the file's %d bytes", req.Offset, req.Length, size)
	}
	r, err := ev.opts.Store.Open(ctx, d, req.Offset, n)
	if err != nil {
		return storeStatus(err)
	}
	defer r.Close()
	out := newStallSender(stream, s.opts.StallTimeout)
	defer out.close()
	if err := out.sendMsg(ctx, &mvmv1.DownloadEvidenceResponse{Size: size}); err != nil {
		return err
	}
	for sent := int64(0); sent < n; {
		k := int(min(evidenceChunk, n-sent))
		// Read straight into the buffer gRPC sends, and frees once sent.
		m, err := chunkcodec.ReadDownloadChunk(r, k)
		if err != nil {
			return storeStatus(err)
		}
		if err := out.sendEncoded(ctx, m); err != nil {
			return err
		}
		sent += int64(k)
	}
	return nil
}
