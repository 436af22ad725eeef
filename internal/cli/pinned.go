package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/mod/sumdb/note"

	"github.com/mvm-exchange/mvm/internal/agreement"
	"github.com/mvm-exchange/mvm/internal/tlog"
)

// What the client pins in --certs, and what it verifies with it: the log
// key (log.vkey) every checkpoint, receipt and cosignature is opened
// under, the genesis agreement (agreement.envelope), and --state, the last
// checkpoint verified. Every command that believes a checkpoint goes
// through logKey.checkpoint; none calls tlog with a verifier of its own.

// logKey is the pinned log key.
type logKey struct{ note.Verifier }

// logVerifier loads the pinned log key: path, or CERTS/log.vkey.
func (e *env) logVerifier(path string) (logKey, error) {
	if path == "" {
		path = filepath.Join(e.certs, "log.vkey")
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return logKey{}, fmt.Errorf("pinned log key: %w (pass --certs DIR or --log-key FILE)", err)
	}
	v, err := note.NewVerifier(strings.TrimSpace(string(b)))
	if err != nil {
		return logKey{}, fmt.Errorf("log key %s: %w", path, err)
	}
	return logKey{v}, nil
}

// checkpoint opens a signed checkpoint: it must be signed by the log key.
func (k logKey) checkpoint(signed []byte) (*tlog.Checkpoint, error) {
	cp, _, err := tlog.OpenCheckpoint(signed, k.Name(), k)
	return cp, err
}

// receipt verifies a receipt (C2SP tlog-proof) under the log key.
func (k logKey) receipt(b []byte) (*tlog.Receipt, error) { return tlog.VerifyReceipt(b, k.Name(), k) }

// witnesses counts, on the client, the mediator parties of ag whose
// cosignatures on the signed checkpoint verify, with the count the server
// runs (agreement.CountWitnesses): the server's own number is never taken
// on trust. ag must be the agreement in force at the checkpoint's size.
func (k logKey) witnesses(signed []byte, ag *agreement.Agreement) (agreement.Tally, error) {
	return ag.Tally(signed, k.Name(), k)
}

// pinnedAgreement reads the genesis agreement pinned in CERTS (or path).
func (e *env) pinnedAgreement(path string) (*agreement.Agreement, []byte, error) {
	if path == "" {
		path = filepath.Join(e.certs, "agreement.envelope")
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, fmt.Errorf("pinned agreement: %w", err)
	}
	ag, _, err := agreement.FromEnvelope(raw, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("pinned agreement %s: %w", path, err)
	}
	return ag, raw, nil
}

// stateFile is --state: the last checkpoint this client verified, which
// protects it against a rollback. "" keeps no state.
type stateFile struct {
	path string
	key  logKey
}

// auditState is what --state keeps between runs.
type auditState struct {
	Origin     string `json:"origin"`
	Size       uint64 `json:"size"`
	Root       []byte `json:"root"`
	Checkpoint string `json:"checkpoint"`
}

// checkpoint is the saved checkpoint, nil without a state.
func (st *auditState) checkpoint() *tlog.Checkpoint {
	if st == nil {
		return nil
	}
	return &tlog.Checkpoint{Origin: st.Origin, Size: st.Size, Hash: st.Root}
}

// load reads the state, nil if there is none yet.
func (s stateFile) load() (*auditState, error) {
	if s.path == "" {
		return nil, nil
	}
	b, err := os.ReadFile(s.path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("state: %w", err)
	}
	st := &auditState{}
	if err := json.Unmarshal(b, st); err != nil {
		return nil, fmt.Errorf("state %s: %w", s.path, err)
	}
	// Only the signed checkpoint counts: it must still verify under the
	// pinned key, and size and root are taken from it.
	cp, err := s.key.checkpoint([]byte(st.Checkpoint))
	if err != nil {
		return nil, fmt.Errorf("state %s: saved checkpoint: %w", s.path, err)
	}
	st.Origin, st.Size, st.Root = cp.Origin, cp.Size, cp.Hash
	return st, nil
}

// save keeps cp, verified, signed as signed.
func (s stateFile) save(cp *tlog.Checkpoint, signed []byte) error {
	b, err := json.MarshalIndent(&auditState{Origin: cp.Origin, Size: cp.Size, Root: cp.Hash, Checkpoint: string(signed)}, "", "  ")
	if err != nil {
		return err
	}
	// The state is what protects this client against a rollback: written
	// durably, and never half of it.
	if err := writeOutBytes(s.path, append(b, '\n')); err != nil {
		return fmt.Errorf("state: %w", err)
	}
	return nil
}
