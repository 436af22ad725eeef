package witness

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync"

	"golang.org/x/mod/sumdb/note"

	"github.com/mvm-exchange/mvm/internal/forkproof"
	"github.com/mvm-exchange/mvm/internal/tlog"
)

// ErrNotYet is what an [Handler.Allow] hook wraps to say "not verified that
// far yet": the witness answers 503 and the log retries later.
var ErrNotYet = errors.New("not verified that far yet")

// Handler is the witness side of C2SP tlog-witness for one log: it serves
// POST /add-checkpoint (under a submission prefix, mount it with
// http.StripPrefix). Over HTTPS with client certificates, or plain HTTP on
// a trusted network: the protocol itself authenticates only the log's
// signature on the checkpoint.
type Handler struct {
	// Origin and LogKey are the log's origin and checkpoint verifier.
	Origin string
	LogKey note.Verifier
	// Key is the witness's cosignature/v1 signing key (a signed-note
	// Ed25519 private key, as tlog.GenerateCosignerKey makes); its name is
	// the witness's name.
	Key string
	// State keeps the latest cosigned checkpoint durably. The handler
	// reads it at its first request and is its only writer from then on.
	State State
	// Allow, if set, is asked before cosigning a checkpoint that passed
	// every check, with the checkpoint: an error refuses to cosign (503,
	// the error's text in the body). A mediator node uses it to cosign
	// nothing beyond what it has verified entry by entry.
	Allow func(ctx context.Context, cp *tlog.Checkpoint) error
	// OnFork, if set, is given a fork proof (internal/forkproof) whenever
	// a request proves that the log signed a checkpoint inconsistent with
	// the one this witness holds: one of the same size with another root,
	// or a consistency proof that reproduces the new root and gives
	// another at the held size. The witness refuses it either way (409,
	// 422); the hook is where its owner writes the proof and alarms. It
	// runs under the handler's lock: keep it short.
	OnFork func(p *forkproof.Proof)
	Logger *slog.Logger

	// mu makes the check of the old size and the save one step: two
	// requests never both pass against the same saved checkpoint.
	mu sync.Mutex
	// saved is the checkpoint State holds, opened, once a request has
	// loaded it (the handler is its only writer while it serves): a
	// request does not read and verify it again.
	saved *savedCheckpoint
	// cosigner is Key, parsed at the first cosignature.
	cosigner note.Signer
}

// savedCheckpoint is the checkpoint State holds: opened, and as signed.
type savedCheckpoint struct {
	cp     *tlog.Checkpoint
	signed []byte // nil: none saved yet (the empty tree)
}

// httpError is a refusal with its status.
type httpError struct {
	status int
	err    error
}

func (e *httpError) Error() string { return e.err.Error() }

func refuse(status int, format string, args ...any) error {
	return &httpError{status, fmt.Errorf(format, args...)}
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || r.URL.Path != addCheckpointPath {
		http.Error(w, "this witness serves POST "+addCheckpointPath, http.StatusNotFound)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxRequestBytes))
	if err != nil {
		http.Error(w, "request body: "+err.Error(), http.StatusBadRequest)
		return
	}
	lines, err := h.addCheckpoint(r.Context(), body)
	var conflict *ConflictError
	var he *httpError
	switch {
	case err == nil:
		_, _ = io.WriteString(w, lines)
	case errors.As(err, &conflict):
		w.Header().Set("Content-Type", sizeContentType)
		w.WriteHeader(http.StatusConflict)
		fmt.Fprintf(w, "%d\n", conflict.Size)
	case errors.As(err, &he):
		h.logger().Warn("add-checkpoint refused", "status", he.status, "err", he.err)
		http.Error(w, he.err.Error(), he.status)
	default:
		h.logger().Error("add-checkpoint failed", "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
	}
}

func (h *Handler) logger() *slog.Logger {
	if h.Logger == nil {
		return slog.Default()
	}
	return h.Logger
}

// addCheckpoint runs the checks of the protocol on one request and returns
// the cosignature line.
func (h *Handler) addCheckpoint(ctx context.Context, body []byte) (string, error) {
	oldSize, proof, signed, err := decodeRequest(body)
	if err != nil {
		return "", refuse(http.StatusBadRequest, "%w", err)
	}
	if origin, _, _ := bytes.Cut(signed, []byte("\n")); string(origin) != h.Origin {
		return "", refuse(http.StatusNotFound, "unknown log %q: this witness witnesses %q", origin, h.Origin)
	}
	cp, n, err := tlog.OpenCheckpoint(signed, h.Origin, h.LogKey)
	switch {
	case errors.Is(err, tlog.ErrInvalidSignature):
		return "", refuse(http.StatusForbidden, "%w", err)
	case err != nil:
		return "", refuse(http.StatusBadRequest, "%w", err)
	case oldSize > cp.Size:
		return "", refuse(http.StatusBadRequest, "old size %d is beyond the checkpoint's size %d", oldSize, cp.Size)
	}

	h.mu.Lock()
	defer h.mu.Unlock()
	known, knownSigned, err := h.known()
	if err != nil {
		return "", err
	}
	if known.Size == cp.Size && !bytes.Equal(known.Hash, cp.Hash) {
		// Same size, two roots: a fork, whatever old size was sent. The
		// spec answers 409.
		h.logger().Error("two checkpoints of one size", "size", cp.Size, "known", known.Hash, "got", cp.Hash)
		h.proveFork(knownSigned, signed, nil)
		return "", &ConflictError{Size: known.Size}
	}
	if known.Size != oldSize {
		return "", &ConflictError{Size: known.Size}
	}
	if oldSize != cp.Size {
		if err := tlog.VerifyConsistency(oldSize, cp.Size, proof, known.Hash, cp.Hash); err != nil {
			h.logger().Error("inconsistent checkpoint", "old", oldSize, "size", cp.Size, "err", err)
			h.proveFork(knownSigned, signed, proof)
			return "", refuse(http.StatusUnprocessableEntity, "%w", err)
		}
	}
	if h.Allow != nil {
		if err := h.Allow(ctx, cp); err != nil {
			return "", refuse(http.StatusServiceUnavailable, "not cosigning size %d: %w", cp.Size, err)
		}
	}
	if h.cosigner == nil {
		if h.cosigner, err = tlog.NewCosigner(h.Key); err != nil {
			return "", err
		}
	}
	if oldSize != cp.Size {
		// Only the log's signature is kept: what this witness vouches for.
		mine, err := tlog.Verified(n)
		if err != nil {
			return "", err
		}
		// A failed save leaves h.saved as it was: the file may hold mine
		// in the page cache without having made it durable, so the next
		// request saves again rather than reading it back as saved.
		if err := h.State.Save(mine); err != nil {
			return "", fmt.Errorf("saving size %d before cosigning it: %w", cp.Size, err)
		}
		h.saved = &savedCheckpoint{cp: cp, signed: mine}
	}
	line, err := tlog.CosignOpened(h.cosigner, n)
	if err != nil {
		return "", err
	}
	// Debug: a mediator node under `server --sync-witnesses` cosigns at
	// each commit of the primary, hundreds a second.
	h.logger().Debug("checkpoint cosigned", "origin", h.Origin, "old", oldSize, "size", cp.Size)
	return line, nil
}

// known returns the saved checkpoint (and its signed note), or the empty
// tree if there is none: loaded from State and verified at the first
// request, and after a failed save.
func (h *Handler) known() (*tlog.Checkpoint, []byte, error) {
	if h.saved != nil {
		return h.saved.cp, h.saved.signed, nil
	}
	saved, err := h.State.Load()
	if err != nil {
		return nil, nil, err
	}
	if saved == nil {
		h.saved = &savedCheckpoint{cp: &tlog.Checkpoint{Origin: h.Origin, Size: 0, Hash: tlog.EmptyRoot()}}
		return h.saved.cp, nil, nil
	}
	cp, _, err := tlog.OpenCheckpoint(saved, h.Origin, h.LogKey)
	if err != nil {
		return nil, nil, fmt.Errorf("the saved checkpoint does not verify: %w", err)
	}
	h.saved = &savedCheckpoint{cp: cp, signed: saved}
	return cp, saved, nil
}

// proveFork hands OnFork the proof that the saved checkpoint and signed
// fork, if they prove it: a wrong proof alone proves nothing (anyone can
// send one), and from a saved size that is a power of two the standard
// proof the protocol carries leaves out the node that would show it
// (internal/forkproof).
func (h *Handler) proveFork(knownSigned, signed []byte, proof [][]byte) {
	if h.OnFork == nil || knownSigned == nil {
		return
	}
	p, err := forkproof.Make(knownSigned, signed, proof, h.LogKey)
	if err != nil {
		h.logger().Warn("inconsistent checkpoint, not provable from this request", "err", err)
		return
	}
	h.logger().Error("fork proven: the log signed two inconsistent checkpoints", "origin", h.Origin)
	h.OnFork(p)
}
