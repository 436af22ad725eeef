package service

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/mvm-exchange/mvm/internal/entry"
	"github.com/mvm-exchange/mvm/internal/envelope"
	"github.com/mvm-exchange/mvm/internal/evidence"
	"github.com/mvm-exchange/mvm/internal/ledger"
	"github.com/mvm-exchange/mvm/internal/message"
	"github.com/mvm-exchange/mvm/internal/store"
	mvmv1 "github.com/mvm-exchange/mvm/proto/mvm/v1"
)

// Evidence limits: defaults of [EvidenceOptions].
const (
	DefaultEvidenceMaxBytes        = 8 << 30  // one file
	DefaultEvidenceMaxPackageBytes = 64 << 30 // all the files of one package
	// One party's uploads at once, all its identities together: a party
	// mints identities at will, so a bound per identity bounds nothing.
	DefaultEvidenceMaxUploads = 8
	// An upload whose client sends nothing for this long is ended (its
	// bytes kept, to resume), so that it does not hold a slot for ever.
	DefaultEvidenceIdleTimeout = time.Minute
	// One party's files, stored and being uploaded, all its packages
	// together: a package's bound by default, so that by default no
	// party can take more of the disk than one package may, and the disk
	// an operator provisions is this times the parties (that upload).
	DefaultEvidenceMaxPartyBytes = 64 << 30
)

// EvidenceOptions turn on the evidence RPCs.
type EvidenceOptions struct {
	// Store holds the files (required).
	Store evidence.Store
	// MaxBytes bounds one file (default DefaultEvidenceMaxBytes).
	MaxBytes int64
	// MaxPackageBytes bounds the files of one package: those its log
	// names, with their logged sizes, and those uploaded for it since the
	// server started (default DefaultEvidenceMaxPackageBytes).
	MaxPackageBytes int64
	// MaxUploads bounds one party's uploads at once, over all its
	// identities (default DefaultEvidenceMaxUploads).
	MaxUploads int
	// IdleTimeout ends an upload whose client sends no message for this
	// long, the first included; what the store holds of it is kept, to resume (default
	// DefaultEvidenceIdleTimeout).
	IdleTimeout time.Duration
	// MaxPartyBytes bounds the bytes one party's uploads hold on the
	// store, stored and under way, over all packages, as recorded in the
	// database (evidence_quota.go) so that it holds across restarts
	// (0: DefaultEvidenceMaxPartyBytes; negative: unlimited).
	MaxPartyBytes int64
}

// evidenceState is the service's evidence side; nil without a store.
type evidenceState struct {
	opts    EvidenceOptions
	uploads *uploadSlots
	names   evidence.Locks // one upload per name on the store, checks and hold included

	mu sync.Mutex
	// uploaded are the files uploaded for each package since start, by
	// digest, with their declared sizes: with the sizes the log names,
	// what counts against MaxPackageBytes.
	uploaded map[string]map[evidence.Digest]int64
}

// SetEvidence turns on the evidence RPCs over o.Store; call it before
// serving. Without it they answer Unavailable.
func (s *Service) SetEvidence(o EvidenceOptions) {
	if o.MaxBytes <= 0 {
		o.MaxBytes = DefaultEvidenceMaxBytes
	}
	if o.MaxPackageBytes <= 0 {
		o.MaxPackageBytes = DefaultEvidenceMaxPackageBytes
	}
	if o.MaxUploads <= 0 {
		o.MaxUploads = DefaultEvidenceMaxUploads
	}
	if o.IdleTimeout <= 0 {
		o.IdleTimeout = DefaultEvidenceIdleTimeout
	}
	if o.MaxPartyBytes == 0 {
		o.MaxPartyBytes = DefaultEvidenceMaxPartyBytes
	}
	s.ev = &evidenceState{opts: o, uploads: &uploadSlots{max: o.MaxUploads, by: map[string]int{}},
		uploaded: map[string]map[evidence.Digest]int64{}}
}

func (s *Service) evidenceOn() (*evidenceState, error) {
	if s.ev == nil {
		return nil, status.Error(codes.Unavailable, "this server keeps no evidence files (server --evidence-dir or --evidence-s3)")
	}
	return s.ev, nil
}

// uploadSlots counts each party's uploads under way, whatever identity
// of the party sends them; a party's entry goes when its count returns
// to zero. A refused upload does not wait: it is told to come back. With
// the idle timeout, a slot is held only while its client sends.
type uploadSlots struct {
	max int
	mu  sync.Mutex
	by  map[string]int
}

func (u *uploadSlots) acquire(party string) bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.by[party] >= u.max {
		return false
	}
	u.by[party]++
	return true
}

func (u *uploadSlots) release(party string) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.by[party]--; u.by[party] <= 0 {
		delete(u.by, party)
	}
}

// fileRef checks the fields that name a file.
func fileRef(pkg string, sha []byte) (evidence.Digest, error) {
	if !message.ValidID(pkg) {
		return evidence.Digest{}, status.Errorf(codes.InvalidArgument, "package_id: %q is not a valid id", pkg)
	}
	d, err := evidence.ParseDigest(sha)
	if err != nil {
		return d, status.Errorf(codes.InvalidArgument, "sha256: %v", err)
	}
	return d, nil
}

// uploadRef checks the fields that name an upload: a digest, or (a
// one-pass upload, onePass) a client's upload key, which the upload is
// held under as SHA-256 of the caller, the package and the key, so no
// caller reaches another's unfinished upload.
func uploadRef(caller *Caller, pkg string, sha, key []byte) (d evidence.Digest, onePass bool, err error) {
	if key == nil {
		d, err = fileRef(pkg, sha)
		return d, false, err
	}
	if sha != nil {
		return d, true, status.Error(codes.InvalidArgument, "sha256 and upload_key: name an upload by one of them (a one-pass upload sends its sha256 last)")
	}
	if !message.ValidID(pkg) {
		return d, true, status.Errorf(codes.InvalidArgument, "package_id: %q is not a valid id", pkg)
	}
	if len(key) != sha256.Size {
		return d, true, status.Errorf(codes.InvalidArgument, "upload_key: %d bytes, want %d", len(key), sha256.Size)
	}
	h := sha256.New()
	for _, f := range []string{"mvm-evidence upload/v1", caller.ID.URI(), pkg, string(key)} {
		h.Write(binary.AppendUvarint(nil, uint64(len(f))))
		h.Write([]byte(f))
	}
	return evidence.Digest(h.Sum(nil)), true, nil
}

// loggedFiles is what a package's log says of its evidence: every digest
// any of its entries names, with the size an EvidenceSubmission gave it
// (-1 when none did).
type loggedFiles map[evidence.Digest]int64

// packageEvidence checks that caller may read package id (as the package
// reads do: its parties and the mediators) and returns its logged files.
// The cost is the package's entries, which its reads cost already.
func (s *Service) packageEvidence(ctx context.Context, caller *Caller, id string) (loggedFiles, error) {
	files := loggedFiles{}
	err := s.l.ReadIndex(ctx, func(v store.View, _ *ledger.Head) error {
		p, _, err := indexedPackage(v, id)
		if err != nil {
			return err
		}
		if p == nil || !canRead(caller, p) {
			return unseenPackage(caller, id) // as the package reads: no hint that it exists
		}
		v.PackageEntries(id, 0, func(i uint64) bool {
			files.add(v.Leaf(i))
			return true
		})
		return nil
	})
	return files, toStatus(err)
}

// add records the evidence an entry names; an entry that does not decode
// names none (the server accepted it decoded, so this does not happen).
func (f loggedFiles) add(leaf []byte) {
	e, err := entry.DecodeLeaf(leaf)
	if err != nil {
		return
	}
	env, err := envelope.Parse(e.Envelope)
	if err != nil {
		return
	}
	m, err := message.Decode(env.PayloadType, env.Payload)
	if err != nil {
		return
	}
	if es, ok := m.(*mvmv1.EvidenceSubmission); ok {
		for _, file := range es.Files {
			if d, err := evidence.ParseDigest(file.StoredSha256); err == nil {
				f[d] = file.StoredSize
			}
		}
	}
	// Every payload that cites evidence does so in a field of this name.
	fd := m.ProtoReflect().Descriptor().Fields().ByName("evidence_sha256")
	if fd == nil || !fd.IsList() {
		return
	}
	list := m.ProtoReflect().Get(fd).List()
	for i := range list.Len() {
		if d, err := evidence.ParseDigest(list.Get(i).Bytes()); err == nil {
			if _, ok := f[d]; !ok {
				f[d] = -1
			}
		}
	}
}

// reserve counts size bytes of file d against package pkg's bound, unless
// d is counted already (fresh says it was not); it fails naming the bound.
func (ev *evidenceState) reserve(pkg string, logged loggedFiles, d evidence.Digest, size int64) (fresh bool, err error) {
	ev.mu.Lock()
	defer ev.mu.Unlock()
	mine := ev.uploaded[pkg]
	// One count per file: its logged size, or the size declared on upload.
	sizes := map[evidence.Digest]int64{}
	for ld, n := range logged {
		if n >= 0 {
			sizes[ld] = n
		}
	}
	for ud, n := range mine {
		if _, ok := sizes[ud]; !ok {
			sizes[ud] = n
		}
	}
	if _, counted := sizes[d]; counted {
		return false, nil
	}
	var total int64
	for _, n := range sizes {
		total += n
	}
	if total+size > ev.opts.MaxPackageBytes {
		return false, status.Errorf(codes.ResourceExhausted, "package %s would hold %d bytes of evidence files, over the limit of %d per package (server --evidence-max-package-bytes)",
			pkg, total+size, ev.opts.MaxPackageBytes)
	}
	if mine == nil {
		mine = map[evidence.Digest]int64{}
		ev.uploaded[pkg] = mine
	}
	mine[d] = size
	return true, nil
}

// rekey moves a one-pass upload's count from its key to its digest.
func (ev *evidenceState) rekey(pkg string, key, d evidence.Digest, size int64) {
	ev.mu.Lock()
	defer ev.mu.Unlock()
	if m := ev.uploaded[pkg]; m != nil {
		delete(m, key)
		m[d] = size
	}
}

// unreserve forgets an upload the store refused (it holds nothing of it).
func (ev *evidenceState) unreserve(pkg string, d evidence.Digest) {
	ev.mu.Lock()
	defer ev.mu.Unlock()
	delete(ev.uploaded[pkg], d)
	if len(ev.uploaded[pkg]) == 0 {
		delete(ev.uploaded, pkg)
	}
}

// storeStatus maps the store's refusals to gRPC codes, with what to do.
func storeStatus(err error) error {
	var oe *evidence.OffsetError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &oe):
		return status.Errorf(codes.FailedPrecondition, "%v (EvidenceStatus returns it)", err)
	case errors.Is(err, evidence.ErrDigestMismatch), errors.Is(err, evidence.ErrTooLong):
		return status.Errorf(codes.InvalidArgument, "%v; nothing was stored: upload the file again from offset 0", err)
	case errors.Is(err, evidence.ErrExists):
		return status.Errorf(codes.AlreadyExists, "%v: it is never overwritten, and there is nothing left to send", err)
	case errors.Is(err, evidence.ErrNotFound):
		return status.Error(codes.NotFound, err.Error())
	case errors.Is(err, evidence.ErrBusy):
		return status.Errorf(codes.FailedPrecondition, "%v: retry when it ends", err)
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return toStatus(err)
	}
	return status.Error(codes.Unavailable, fmt.Sprintf("evidence store: %v", err))
}

// checkEvidenceStored refuses an EvidenceSubmission that names a file the
// store does not hold whole (FailedPrecondition): its evidence deadline is
// met only once it is logged, so a logged submission's files are stored.
// Any other envelope passes (the ledger checks it).
func (s *Service) checkEvidenceStored(ctx context.Context, raw []byte) error {
	env, err := envelope.Parse(raw)
	if err != nil || env.PayloadType != message.TypeEvidenceSubmission {
		return nil
	}
	m, err := message.Decode(env.PayloadType, env.Payload)
	es, ok := m.(*mvmv1.EvidenceSubmission)
	if err != nil || !ok || len(es.Files) == 0 {
		return nil
	}
	for i, f := range es.Files {
		d, err := evidence.ParseDigest(f.StoredSha256)
		if err != nil {
			return nil // validation refuses it, naming the field
		}
		if s.ev == nil {
			return status.Errorf(codes.FailedPrecondition, "files[%d]: this server keeps no evidence files (server --evidence-dir or --evidence-s3)", i)
		}
		size, err := s.ev.opts.Store.Stat(ctx, d)
		if errors.Is(err, evidence.ErrNotFound) {
			return status.Errorf(codes.FailedPrecondition, "files[%d] (%q, sha256 %s) is not stored on the exchange: upload it first (client evidence ID --file)", i, f.Name, d)
		}
		if err != nil {
			return storeStatus(err)
		}
		if size != f.StoredSize {
			return status.Errorf(codes.FailedPrecondition, "files[%d] (%q, sha256 %s): stored_size %d, the stored file has %d bytes", i, f.Name, d, f.StoredSize, size)
		}
	}
	return nil
}
