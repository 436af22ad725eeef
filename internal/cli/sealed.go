package cli

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"google.golang.org/protobuf/proto"

	"github.com/mvm-exchange/mvm/client/mvmclient"
	"github.com/mvm-exchange/mvm/internal/agreement"
	"github.com/mvm-exchange/mvm/internal/audit"
	"github.com/mvm-exchange/mvm/internal/message"
	"github.com/mvm-exchange/mvm/internal/seal"
	mvmv1 "github.com/mvm-exchange/mvm/proto/mvm/v1"
)

// Sealed bodies on the command line: what is sent is sealed when the
// agreement in force (derived from the verified log, never the server's
// word: the encryption keys decide who can read) says so, or when the
// package is; what is shown is opened with the caller's party's
// decryption key, CERTS/seal-<party>.key.

// keyring loads the caller's party's decryption keys (--key, default
// CERTS/seal-<party>.key); nil if it has none.
func (e *env) keyring(c *mvmclient.Client) (*message.Keyring, error) {
	return e.loadKeyring(c.ID.Party, e.keyFiles)
}

// sealIfAgreed returns m as it must be sent: sealed when the agreement in
// force seals bodies (a new package) or when its package is sealed. With
// no pinned agreement or log key to verify the log against, m goes as it
// is: a server under a sealing agreement refuses it, nothing leaks.
func (e *env) sealIfAgreed(c *mvmclient.Client, m proto.Message) (proto.Message, error) {
	if !message.Sealable(message.TypeOf(m)) {
		return m, nil
	}
	_, _, errAg := e.pinnedAgreement("")
	_, errKey := e.logVerifier("")
	if errAg != nil || errKey != nil {
		if len(e.sealTo) > 0 {
			// --to asks for secrecy: never send in the clear what the
			// caller meant to seal.
			return nil, fmt.Errorf("--to: the agreement in force must be verified to seal to its parties' keys, and there is no pinned agreement and log key here (%v); nothing sent", errors.Join(errAg, errKey))
		}
		return m, nil
	}
	ctx, cancel := e.context()
	defer cancel()
	ver, err := e.verifiedLog(ctx, c, "", nil, audit.Options{AgreementsOnly: true})
	if err != nil {
		return nil, err
	}
	ag := ver.Agreements[len(ver.Agreements)-1]
	kr, err := e.keyring(c)
	if err != nil {
		return nil, err
	}
	if tp, ok := m.(*mvmv1.TargetPackage); ok {
		if !ag.SealedBodies {
			if len(e.sealTo) > 0 {
				return nil, fmt.Errorf("--to: the agreement in force (index %d) does not seal bodies: every party reads every package; nothing sent", ag.Index)
			}
			return m, nil
		}
		to, err := mvmclient.Recipients(ag, recipientsOf(ag, c.ID.Party, tp, e.sealTo)...)
		if err != nil {
			return nil, usagef("--to: %v", err)
		}
		return mvmclient.SealOutgoing(ag, kr, nil, to, tp)
	}
	target, err := e.verifiedTarget(ctx, c, message.PackageID(m), ver)
	if err != nil {
		return nil, err
	}
	return mvmclient.SealOutgoing(ag, kr, target, nil, m)
}

// verifiedTarget returns the target package of id as logged, verified
// (signature, inclusion in ver's checkpoint, agreement); nil if the
// package is not in the log, for the server to refuse what refers to it.
func (e *env) verifiedTarget(ctx context.Context, c *mvmclient.Client, id string, ver *audit.Verified) (*mvmv1.TargetPackage, error) {
	resp, err := c.Package(ctx, id)
	if err != nil || len(resp.Leaves) == 0 {
		return nil, nil
	}
	pe, err := c.VerifyEntry(ctx, nil, resp.Leaves[0], ver.Checkpoint, ver.Agreements)
	if err != nil {
		return nil, fmt.Errorf("package %s: its target package does not verify, nothing sent: %w", id, err)
	}
	tp, ok := pe.Payload.(*mvmv1.TargetPackage)
	if !ok || tp.GetHeader().GetMessageId() != id {
		return nil, fmt.Errorf("package %s: the server's first entry of it is not its target package, nothing sent", id)
	}
	return tp, nil
}

// openSealed replaces the sealed payloads of v with what they open to,
// with the caller's party's key, and returns what the reader must be told:
// why only headers are shown, or which entries are their author's fault.
func (e *env) openSealed(c *mvmclient.Client, v *mvmclient.VerifiedPackage, agreements []*agreement.Agreement) []string {
	if len(v.Entries) == 0 || !message.IsSealed(v.Entries[0].Payload) {
		return nil
	}
	target, ok := v.Entries[0].Payload.(*mvmv1.TargetPackage)
	if !ok {
		return nil
	}
	kr, err := e.keyring(c)
	if kr == nil && err == nil {
		err = fmt.Errorf("%w: no decryption key %s (give --key FILE)", message.ErrNoKey, e.defaultKeyFile(c.ID.Party))
	}
	var key seal.PackageKey
	if err == nil {
		key, err = kr.PackageKey(inForce(agreements, v.Entries[0].Index).LogOrigin, target)
	}
	if err != nil {
		if message.IsFault(err) {
			return []string{fmt.Sprintf("sealed: entry %d is a fault of its author %s: %v", v.Entries[0].Index, v.Entries[0].Author, err)}
		}
		return []string{fmt.Sprintf("sealed: showing cleartext headers only: %v", err)}
	}
	var notes []string
	opened := 0
	for i, en := range v.Entries {
		full, err := openEntry(inForce(agreements, en.Index).LogOrigin, key, en)
		if err != nil {
			notes = append(notes, fmt.Sprintf("sealed: entry %d is a fault of its author %s, its header only is shown: %v", en.Index, en.Author, err))
			continue
		}
		v.Entries[i].Payload = full
		opened++
		if i == 0 {
			v.State.Target = full.(*mvmv1.TargetPackage)
		}
	}
	return append(notes, fmt.Sprintf("sealed: opened %d of %d entries with party %s's key", opened, len(v.Entries), c.ID.Party))
}

func openEntry(origin string, key seal.PackageKey, en mvmclient.PackageEntry) (proto.Message, error) {
	return message.Open(origin, key, en.Type, en.SignedPayload)
}

// inForce returns the agreement in force at index.
func inForce(agreements []*agreement.Agreement, index uint64) *agreement.Agreement {
	ag := agreements[0]
	for _, a := range agreements {
		if a.Index <= index {
			ag = a
		}
	}
	return ag
}

// recipientsOf returns the parties a new package is sealed to under ag:
// nil (every party of the agreement) without --to; else the parties --to
// names and those who must read every package, which the reducer
// requires (workflow.checkSealing): the submitter's own party, the
// responder and every mediator. They are added, not asked for.
func recipientsOf(ag *agreement.Agreement, self string, tp *mvmv1.TargetPackage, to []string) []string {
	if len(to) == 0 {
		return nil
	}
	out := []string{self}
	if r := tp.Responder; r != "" {
		out = append(out, r)
	} else {
		out = append(out, ag.PartiesWithRole(mvmv1.Role_ROLE_RESPONDER)...)
	}
	out = append(out, ag.PartiesWithRole(mvmv1.Role_ROLE_MEDIATOR)...)
	out = append(out, to...)
	slices.Sort(out)
	return slices.Compact(out)
}
