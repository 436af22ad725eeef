package cli

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/mvm-exchange/mvm/client/mvmclient"
	"github.com/mvm-exchange/mvm/internal/agreement"
	"github.com/mvm-exchange/mvm/internal/audit"
	"github.com/mvm-exchange/mvm/internal/devpki"
	"github.com/mvm-exchange/mvm/internal/envelope"
	"github.com/mvm-exchange/mvm/internal/message"
	"github.com/mvm-exchange/mvm/internal/seal"
	mvmv1 "github.com/mvm-exchange/mvm/proto/mvm/v1"
)

// propose writes the amendment of the agreement in force that c's flags
// describe, signed by this party, to --out.
func (c *amendCmd) propose(ctx context.Context, e *env, cl *mvmclient.Client) error {
	cur, ver, err := e.agreementInForce(ctx, cl, c.statePath)
	if err != nil {
		return err
	}
	next := proto.Clone(cur.Proto).(*mvmv1.Agreement)
	next.Header = mvmclient.NewHeader()
	next.AmendsIndex = cur.Index
	if c.title != "" {
		next.Title = c.title
	}
	if next.Deadlines == nil {
		next.Deadlines = &mvmv1.Deadlines{}
	}
	for _, d := range []struct {
		v   time.Duration
		dst **durationpb.Duration
	}{{c.ack, &next.Deadlines.Acknowledge}, {c.report, &next.Deadlines.ActionReport}, {c.evidence, &next.Deadlines.Evidence}} {
		if d.v > 0 {
			*d.dst = durationpb.New(d.v)
		}
	}
	if c.rulingQuorum > 0 {
		next.RulingQuorum = uint32(c.rulingQuorum)
	}
	if c.witnessQuorum >= 0 {
		next.WitnessQuorum = uint32(c.witnessQuorum)
	}
	if c.evidenceNeedsFiles.set {
		next.EvidenceNeedsFiles = c.evidenceNeedsFiles.value
	}
	var newKey *seal.PrivateKey
	if c.newKey != "" {
		if newKey, err = rotateKey(next, cl.ID.Party); err != nil {
			return err
		}
	}
	proposed, err := agreement.Parse(next, 0)
	if err != nil {
		return fmt.Errorf("the proposed agreement is not valid, nothing written: %w", err)
	}
	if newKey != nil {
		// The key is kept before the proposal exists: a proposal whose
		// decryption key was lost would seal packages nobody can read.
		if err := writeNewKey(c.newKey, newKey); err != nil {
			return err
		}
		e.printf("new decryption key %s of party %s written to %s: once the amendment is logged, use it (--key, or as %s) and keep the old one for older packages\n",
			newKey.Public().ID(), cl.ID.Party, c.newKey, devpki.SealKeyFile(cl.ID.Party))
	}
	s := cl.Signer()
	s.EmbedCertificate = true
	env, err := envelope.Seal(next, s)
	if err != nil {
		return err
	}
	if err := writeOutBytes(c.out.path, env); err != nil {
		return err
	}
	e.printf("proposed amendment of the agreement at index %d (verified against checkpoint size %d), signed by %s: %s\n",
		cur.Index, ver.Checkpoint.Size, cl.ID, c.out.path)
	printChanges(e.stdout, agreement.Diff(cur, proposed))
	return nil
}

// agreementInForce derives the agreement in force from the log, never from
// GetAgreement's answer alone: the pinned genesis and every amendment after
// it, verified by the auditor's code against a checkpoint signed by the
// pinned log key (audit.Options.AgreementsOnly).
func (e *env) agreementInForce(ctx context.Context, c *mvmclient.Client, statePath string) (*agreement.Agreement, *audit.Verified, error) {
	ver, err := e.verifiedLog(ctx, c, statePath, nil, audit.Options{AgreementsOnly: true})
	if err != nil {
		return nil, nil, err
	}
	return ver.Agreement, ver, nil
}

// readProposal parses an amendment file.
func readProposal(path string, raw []byte) (*mvmv1.Envelope, *agreement.Agreement, error) {
	env, err := envelope.Parse(raw)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	if env.PayloadType != message.TypeAgreement {
		return nil, nil, fmt.Errorf("%s holds a %s, not an agreement", path, env.PayloadType)
	}
	p, err := message.Decode(env.PayloadType, env.Payload)
	if err == nil {
		err = message.Validate(p)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	ap := p.(*mvmv1.Agreement)
	proposed, err := agreement.Parse(ap, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	return env, proposed, nil
}

// amendSign shows a proposal as a diff against the agreement in force,
// derived from the log, and signs it with yes. Consent must be informed:
// what is shown is what the payload bytes of the file say, compared with
// what every party already agreed to.
func amendSign(ctx context.Context, e *env, c *mvmclient.Client, path, statePath string, yes bool) error {
	raw, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	env, proposed, err := readProposal(path, raw)
	if err != nil {
		return err
	}
	cur, ver, err := e.agreementInForce(ctx, c, statePath)
	if err != nil {
		return err
	}
	amends := proposed.Proto.GetAmendsIndex()
	if amends != cur.Index {
		return fmt.Errorf("%s amends the agreement at index %d, but the agreement in force (verified from the log) is at index %d: ask for a new proposal", path, amends, cur.Index)
	}
	// Signatures already on the file must be good ones by parties of
	// either agreement: a forged or foreign signature is refused, not
	// counted.
	ids, missing, err := agreement.VerifySigned(env, time.Now(), cur, proposed)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	signers := make([]string, 0, len(ids))
	for _, id := range ids {
		signers = append(signers, id.String())
	}
	e.printf("amends: the agreement at index %d (verified against checkpoint size %d)\n", amends, ver.Checkpoint.Size)
	printChanges(e.stdout, agreement.Diff(cur, proposed))
	e.printf("signed by: %s; missing: %s\n", dash(strings.Join(signers, ", ")), dash(strings.Join(missing, ", ")))
	if !yes {
		e.printf("review the changes above; to sign them: amend sign %s --yes\n", path)
		return nil
	}
	s := c.Signer()
	s.EmbedCertificate = true
	sig, err := envelope.Sign(env.PayloadType, env.Payload, s)
	if err != nil {
		return err
	}
	for _, old := range env.Signatures {
		if old.Keyid == sig.Keyid {
			return fmt.Errorf("%s already signed %s", c.ID, path)
		}
	}
	env.Signatures = append(env.Signatures, sig)
	b, err := proto.Marshal(env)
	if err != nil {
		return err
	}
	if err := writeOutBytes(path, b); err != nil {
		return err
	}
	e.printf("signed %s as %s (%d signatures)\n", path, c.ID, len(env.Signatures))
	return nil
}

// printChanges lists an amendment's changes, security-relevant ones first
// counted and marked with "!".
func printChanges(w io.Writer, cs []agreement.Change) {
	if len(cs) == 0 {
		fmt.Fprintln(w, "changes: none")
		return
	}
	fmt.Fprintf(w, "changes: %d, security-relevant: %d (marked !)\n", len(cs), agreement.SecurityChanges(cs))
	for _, c := range cs {
		fmt.Fprintf(w, "  %s\n", c)
	}
}

// rotateKey gives party a new encryption key in the proposed agreement and
// returns its decryption key.
func rotateKey(next *mvmv1.Agreement, party string) (*seal.PrivateKey, error) {
	for _, p := range next.Parties {
		if p.Id != party {
			continue
		}
		k, err := seal.GenerateKey()
		if err != nil {
			return nil, err
		}
		p.EncryptionKey = k.Public().Bytes()
		return k, nil
	}
	return nil, fmt.Errorf("--new-encryption-key: your party %s is not a party of the agreement in force", party)
}

// writeNewKey writes a new decryption key to path, which must not exist:
// overwriting a key would lose every package sealed to it.
func writeNewKey(path string, k *seal.PrivateKey) error {
	if _, err := os.Lstat(path); err == nil {
		return fmt.Errorf("--new-encryption-key %s: the file exists; a decryption key is never overwritten (choose another name), nothing written", path)
	}
	b, err := k.MarshalPEM()
	if err != nil {
		return err
	}
	if err := writeOutBytes(path, b); err != nil {
		return fmt.Errorf("--new-encryption-key: %w", err)
	}
	return nil
}
