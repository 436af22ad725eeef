package cli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/mvm-exchange/mvm/client/mvmclient"
	"github.com/mvm-exchange/mvm/internal/audit"
	"github.com/mvm-exchange/mvm/internal/bench"
	"github.com/mvm-exchange/mvm/internal/entry"
	"github.com/mvm-exchange/mvm/internal/message"
	"github.com/mvm-exchange/mvm/internal/tlog"
	"github.com/mvm-exchange/mvm/internal/workflow"
	mvmv1 "github.com/mvm-exchange/mvm/proto/mvm/v1"
)

// errForeign stops the scan at the first entry bench did not write.
var errForeign = errors.New("foreign entry")

// checkBenchLog makes sure that bench is about to write into a log that
// holds nothing but the agreement and bench's own packages ([bench.Wrote]):
// a bench run appends thousands of real, signed target packages, which
// would bury real work. It reads the log itself, not a server's claim: every
// entry after the agreement is decoded, and the entries are hashed to the
// checkpoint, which must verify under the pinned log key (CERTS/log.vkey)
// when there is one. A refusal names the first entry that is not bench's.
func (e *env) checkBenchLog(ctx context.Context, c *mvmclient.Client) error {
	resp, err := c.API.GetCheckpoint(ctx, &mvmv1.GetCheckpointRequest{})
	if err != nil {
		return err
	}
	var cp tlog.Checkpoint
	v, err := e.logVerifier("")
	switch {
	case errors.Is(err, os.ErrNotExist):
		if _, err := cp.Unmarshal(noteText(resp.Checkpoint)); err != nil {
			return fmt.Errorf("the server's checkpoint: %w", err)
		}
	case err != nil:
		return err
	default:
		opened, err := v.checkpoint(resp.Checkpoint)
		if err != nil {
			return fmt.Errorf("the server's checkpoint does not verify: %w", err)
		}
		cp = *opened
	}
	tree, err := tlog.NewTree(0, nil)
	if err != nil {
		return err
	}
	var foreign string
	err = c.Entries(ctx, 0, cp.Size, func(index uint64, leaf []byte) error {
		if err := tree.Append(tlog.LeafHash(leaf), nil); err != nil {
			return err
		}
		if index == 0 {
			return nil // the agreement
		}
		if what, ok := benchEntry(leaf); !ok {
			foreign = fmt.Sprintf("entry %d (%s)", index, what)
			return errForeign
		}
		return nil
	})
	if errors.Is(err, errForeign) {
		return fmt.Errorf("the log at %s holds work bench did not write: %s; bench appends real signed packages, "+
			"so run it on a log of its own (scripts/bench.sh starts one), or pass --force to write into this one",
			e.server, foreign)
	}
	if err != nil {
		return fmt.Errorf("reading the log: %w", err)
	}
	root, err := tree.Root()
	if err != nil {
		return err
	}
	if !bytes.Equal(root, cp.Hash) {
		return fmt.Errorf("the log's entries do not hash to its checkpoint of size %d", cp.Size)
	}
	return nil
}

// benchEntry reports whether a leaf holds a package bench wrote, and if
// not, what it holds.
func benchEntry(leaf []byte) (string, bool) {
	o, _ := entry.Open(leaf) // the layers that open, with the error of the first that does not
	switch {
	case o == nil:
		return "undecodable", false
	case o.Envelope == nil:
		return "undecodable envelope", false
	case o.Payload == nil:
		return o.Type, false
	}
	what := workflow.ShortType(o.Type)
	if id := message.PackageID(o.Payload); id != "" {
		what += " " + id
	}
	return what, bench.Wrote(o.Payload)
}

// benchSealing returns how bench must seal what it appends: as the
// clients do under the agreement in force (derived from the verified log,
// as submit does), nil when it does not seal bodies. Without a pinned
// agreement and log key bench appends in the clear, and a sealing server
// refuses it.
func (e *env) benchSealing(c *mvmclient.Client, responders []*mvmclient.Client) (*bench.Sealing, error) {
	_, _, errAg := e.pinnedAgreement("")
	_, errKey := e.logVerifier("")
	if errAg != nil || errKey != nil {
		return nil, nil
	}
	ctx, cancel := e.context()
	defer cancel()
	ver, err := e.verifiedLog(ctx, c, "", nil, audit.Options{AgreementsOnly: true})
	if err != nil {
		return nil, err
	}
	ag := ver.Agreements[len(ver.Agreements)-1]
	if !ag.SealedBodies {
		return nil, nil
	}
	to, err := mvmclient.Recipients(ag)
	if err != nil {
		return nil, err
	}
	s := &bench.Sealing{Origin: ag.LogOrigin, Recipients: to}
	if len(responders) > 0 {
		party := responders[0].ID.Party
		if s.Responder, err = e.loadKeyring(party, nil); err != nil {
			return nil, err
		}
		if s.Responder == nil {
			return nil, fmt.Errorf("the agreement seals bodies: the responder's messages are sealed with its decryption key %s, which is missing", e.defaultKeyFile(party))
		}
	}
	return s, nil
}
