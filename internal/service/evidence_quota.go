package service

import (
	"context"
	"errors"
	"log/slog"
	"math"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/mvm-exchange/mvm/internal/evidence"
	"github.com/mvm-exchange/mvm/internal/store"
)

// The per-party evidence quota. Every name on the evidence store an
// upload fills (a stored object's digest, or the key an unfinished upload
// is held under) has one hold in the database (store.HoldEvidence): its
// size and the party of the identity whose upload took it. A party's
// holds, stored files and uploads under way alike, add up to at most
// MaxPartyBytes. The holds are written before the first byte is, in their
// own bbolt transaction, and changed as the upload ends, so they are what
// the store holds after a restart too; they are not derived from the log,
// which names neither unfinished uploads nor files uploaded and not yet
// submitted.
//
// Rules, for an upload of name under the name's lock (one upload of a
// name at a time, so the hold and the bytes change together):
//   - before the write: the caller's party takes the hold, of the declared
//     size, unless the name holds that much already (a resumed upload, the
//     same bytes uploaded again); over the quota, the upload is refused
//     and nothing is written;
//   - stored under a one-pass key: the hold moves to the digest, or is
//     dropped when the digest is held already (the same bytes were stored
//     before: they are counted once, as their first uploader's);
//   - refused or ended with nothing held (a wrong digest, too many bytes,
//     an upload that sent nothing): the hold is dropped;
//   - interrupted with bytes held: the hold stays, of the declared size,
//     for the resumption to fill.
//
// Stored files are never deleted, so a party at its quota stays there
// until the operator raises it.

// holdForParty has the caller's party take the hold of size bytes under
// name; it fails naming the quota.
func (s *Service) holdForParty(ev *evidenceState, caller *Caller, name evidence.Digest, size int64) error {
	party := caller.ID.Party
	held, err := s.l.Store().HoldEvidence(name[:], party, size, ev.opts.MaxPartyBytes)
	if errors.Is(err, store.ErrOverQuota) {
		return status.Errorf(codes.ResourceExhausted, "party %s holds %d bytes of evidence files (stored or being uploaded); this file's %d more would pass the limit of %d per party (server --evidence-max-party-bytes)",
			party, held, size, ev.opts.MaxPartyBytes)
	}
	if err != nil {
		return status.Errorf(codes.Unavailable, "recording the evidence upload: %v; retry", err)
	}
	return nil
}

// settleHold leaves the hold under name as the upload left the store:
// moved to final once a one-pass upload is stored, dropped when the
// store holds nothing under name.
func (s *Service) settleHold(ctx context.Context, ev *evidenceState, name, final evidence.Digest, stored bool, werr error) {
	st := s.l.Store()
	var err error
	switch {
	case stored && final != name:
		err = st.MoveEvidenceHold(name[:], final[:])
	case stored, errors.Is(werr, evidence.ErrBusy):
		return
	default:
		// What is held is the store's word: an error may leave bytes
		// (interrupted) or none (refused, dropped).
		held, oerr := ev.opts.Store.Offset(context.WithoutCancel(ctx), name, math.MaxInt64)
		if oerr != nil || held > 0 {
			return // stored (ErrExists), held, or unknown: keep counting it
		}
		err = st.ReleaseEvidence(name[:])
	}
	if err != nil {
		// The hold stays as it was: the party is counted for more than
		// it holds, never for less.
		s.log.LogAttrs(ctx, slog.LevelError, "evidence quota not updated", slog.String("sha256", name.String()), slog.String("error", err.Error()))
	}
}
