package cli

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"time"

	"github.com/mvm-exchange/mvm/client/mvmclient"
	"github.com/mvm-exchange/mvm/internal/agreement"
	"github.com/mvm-exchange/mvm/internal/audit"
	"github.com/mvm-exchange/mvm/internal/entry"
	"github.com/mvm-exchange/mvm/internal/envelope"
	"github.com/mvm-exchange/mvm/internal/message"
	"github.com/mvm-exchange/mvm/internal/tlog"
	mvmv1 "github.com/mvm-exchange/mvm/proto/mvm/v1"
)

// watchRetry says on stderr why watch is not following the log and when
// it tries again; a certificate the server refuses ends the watch, since
// retrying cannot help.
func (e *env) watchRetry(failing *error) func(error, time.Duration) error {
	return func(err error, wait time.Duration) error {
		*failing = err
		if msg, ok := e.certRefused(err); ok {
			return errors.New(msg)
		}
		why := oneLine(err)
		if reason, ok := unreachable(err); ok {
			why = fmt.Sprintf("cannot reach %s (%s)", e.server, reason)
		}
		fmt.Fprintf(e.stderr, "watch: %s; retrying in %s\n", why, wait)
		return nil
	}
}

// watchVerifier is what watch checks before it prints an entry (DESIGN
// invariant 8): the entry must be proved included (an inclusion proof) in
// a checkpoint signed by the pinned log key, each checkpoint watch takes
// consistent with the one before (a consistency proof) and the first with
// --state; and its signature must verify under the agreement in force at
// its index (mvmclient.VerifyEntry). The agreements come from the log as
// the other verified commands derive them (verifiedLog, AgreementsOnly):
// at the first entry, up to the latest checkpoint, and again only for an
// entry beyond them that is, or may follow, an amendment watch has not
// verified.
//
// Cost: the first entry hashes the log up to the latest checkpoint once,
// whatever --from (as show and amend do); then each printed entry costs
// one inclusion proof (log n hashes) and, the first time a signer
// appears, one certificate; each new checkpoint one consistency proof.
type watchVerifier struct {
	e     *env
	c     *mvmclient.Client
	state stateFile
	// cp is the newest checkpoint verified in this run; signed its bytes.
	cp     *tlog.Checkpoint
	signed []byte
	// agreements are every agreement of the log below clean: the log up
	// to the last derivation, then the entries watch verified in order
	// after it, none an agreement.
	agreements []*agreement.Agreement
	clean      uint64
	certs      map[string]*x509.Certificate
}

func (e *env) newWatchVerifier(c *mvmclient.Client, statePath string) (*watchVerifier, error) {
	key, err := e.logVerifier("")
	if err != nil {
		return nil, err
	}
	return &watchVerifier{e: e, c: c, state: stateFile{path: statePath, key: key}, certs: map[string]*x509.Certificate{}}, nil
}

// derive re-derives the agreements from the log up to w's checkpoint (the
// server's latest at the start), checked against --state and saved there.
func (w *watchVerifier) derive(ctx context.Context) error {
	ver, err := w.e.verifiedLog(ctx, w.c, w.state.path, w.signed, audit.Options{AgreementsOnly: true})
	if err != nil {
		return err
	}
	w.cp, w.signed, w.agreements, w.clean = ver.Checkpoint, ver.Signed, ver.Agreements, ver.Checkpoint.Size
	return nil
}

// verify checks the entry at index, streamed as leaf, before it is printed.
func (w *watchVerifier) verify(ctx context.Context, index uint64, leaf []byte) error {
	if w.cp == nil {
		// At the first entry, not before: watch waits for a server that
		// is not up yet.
		if err := w.derive(ctx); err != nil {
			return err
		}
	}
	if err := w.cover(ctx, index); err != nil {
		return err
	}
	e, err := entry.DecodeLeaf(leaf)
	if err != nil {
		return err
	}
	if e.Index != index {
		return fmt.Errorf("the leaf says index %d", e.Index)
	}
	isAgreement := index == 0
	if env, err := envelope.Parse(e.Envelope); err == nil && env.PayloadType == message.TypeAgreement {
		isAgreement = true
	}
	// An agreement, or an entry after ones watch has not verified, needs
	// the agreements derived again up to a checkpoint covering it: that
	// checks an amendment in full, as audit does.
	if index >= w.clean && (isAgreement || index > w.clean) {
		if err := w.derive(ctx); err != nil {
			return err
		}
	}
	if isAgreement {
		// Verified in full by derive; this is the leaf derive hashed.
		return w.c.VerifyIncluded(ctx, leaf, index, w.cp)
	}
	if _, err := w.c.VerifyEntry(ctx, w.certs, leaf, w.cp, w.agreements); err != nil {
		return err
	}
	if index == w.clean {
		w.clean++
	}
	return nil
}

// cover makes w.cp a checkpoint covering index: the server's latest,
// signed by the pinned log key and consistent with w.cp, polled while
// the server has not yet signed one that covers the entry.
func (w *watchVerifier) cover(ctx context.Context, index uint64) error {
	for wait := 50 * time.Millisecond; index >= w.cp.Size; wait = min(2*wait, time.Second) {
		resp, err := w.c.API.GetCheckpoint(ctx, &mvmv1.GetCheckpointRequest{})
		if err != nil {
			return fmt.Errorf("checkpoint: %w", err)
		}
		cp, err := w.state.key.checkpoint(resp.Checkpoint)
		if err != nil {
			return fmt.Errorf("the server's checkpoint: %w", err)
		}
		if err := audit.CheckAgainst(w.cp, cp, consistencyProof(ctx, w.c)); err != nil {
			return fmt.Errorf("the server's checkpoint of size %d: %w", cp.Size, err)
		}
		if cp.Size > w.cp.Size {
			w.cp, w.signed = cp, resp.Checkpoint
			if w.state.path != "" {
				if err := w.state.save(cp, resp.Checkpoint); err != nil {
					return err
				}
			}
		}
		if index < w.cp.Size {
			return nil
		}
		select {
		case <-time.After(wait):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}
