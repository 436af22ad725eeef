package node

import (
	"bytes"
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/mvm-exchange/mvm/internal/forkproof"
	"github.com/mvm-exchange/mvm/internal/tlog"
	mvmv1 "github.com/mvm-exchange/mvm/proto/mvm/v1"
)

// The primary's checkpoints as a round asks for them: each opened under
// the log key in force before anything of it is used.

// signed is a checkpoint of the primary, verified under the log key.
type signed struct {
	raw []byte
	cp  *tlog.Checkpoint
}

// checkpoint asks the primary for a checkpoint and opens it under the
// log key in force. Run's goroutine only.
func (f *Follower) checkpoint(ctx context.Context, req *mvmv1.GetCheckpointRequest) (*signed, error) {
	raw, err := f.getCheckpoint(ctx, req)
	if err != nil {
		return nil, err
	}
	vkey := f.logVKey()
	if last := f.lastCheckpoint; last != nil && last.vkey == vkey && bytes.Equal(last.raw, raw) {
		// The very bytes verified last, under the same key (a caught-up
		// round asks again for the checkpoint it has just copied to).
		return last.signed, nil
	}
	key, err := verifierFor(vkey)
	if err != nil {
		return nil, err
	}
	s, err := openSigned(raw, f.l.Origin(), key)
	if err != nil {
		return nil, err
	}
	f.lastCheckpoint = &verifiedCheckpoint{signed: s, vkey: vkey}
	return s, nil
}

// getCheckpoint is the primary's answer to req, not yet opened.
func (f *Follower) getCheckpoint(ctx context.Context, req *mvmv1.GetCheckpointRequest) ([]byte, error) {
	cctx, cancel := context.WithTimeout(ctx, rpcTimeout)
	defer cancel()
	resp, err := f.client.API.GetCheckpoint(cctx, req)
	if err != nil {
		return nil, fmt.Errorf("GetCheckpoint: %w", err)
	}
	return resp.Checkpoint, nil
}

// rpcTimeout bounds each unary call a round makes to the primary.
const rpcTimeout = 30 * time.Second

// verifierFor is the note verifier of the log key vkey: every checkpoint
// of the log a follower opens, asked for in a round or ahead of it, is
// opened under one from here.
func verifierFor(vkey string) (note.Verifier, error) {
	if nv := newVerifier.Load(); nv != nil {
		return (*nv)(vkey)
	}
	return note.NewVerifier(vkey)
}

// newVerifier, if set, builds the log key's verifier instead of
// note.NewVerifier (a test counts the signatures it verifies, or refuses
// them).
var newVerifier atomic.Pointer[func(string) (note.Verifier, error)]

// openSigned opens a checkpoint of the primary under the log key.
func openSigned(raw []byte, origin string, key note.Verifier) (*signed, error) {
	cp, _, err := tlog.OpenCheckpoint(raw, origin, key)
	if err != nil {
		// Not the log's key: nothing of it is taken, and it is no entry's
		// fault; the primary may be misconfigured. Retried.
		return nil, fmt.Errorf("the primary's checkpoint: %w", err)
	}
	return &signed{raw: raw, cp: cp}, nil
}

// opened is s as the fork proofs take it (opened under the log key).
func (s *signed) opened() *forkproof.Checkpoint {
	return &forkproof.Checkpoint{Signed: s.raw, Checkpoint: s.cp}
}

// verifiedCheckpoint is a checkpoint of the primary verified under the
// log key vkey.
type verifiedCheckpoint struct {
	*signed
	vkey string
}
