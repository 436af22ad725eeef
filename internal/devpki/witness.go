package devpki

import (
	"crypto"
	"crypto/x509"
	"fmt"
	"os"
	"path/filepath"

	"google.golang.org/protobuf/proto"

	"github.com/mvm-exchange/mvm/internal/agreement"
	"github.com/mvm-exchange/mvm/internal/envelope"
	"github.com/mvm-exchange/mvm/internal/identity"
	mvmv1 "github.com/mvm-exchange/mvm/proto/mvm/v1"
)

// AddWitness adds an external C2SP witness, name and its cosignature/v1
// verifier key vkey, to the dev agreement in dir and signs it again with
// every party's client identity in dir (agreement.envelope and
// agreement.txt are rewritten). The result must parse: a key that is not a
// cosignature/v1 key named name, or a name already in use, changes
// nothing. It is the genesis agreement: a server whose log began on the
// old one will not start on the new one (delete its database).
func AddWitness(dir, name, vkey string) error {
	raw, err := os.ReadFile(filepath.Join(dir, agreementFile))
	if err != nil {
		return fmt.Errorf("devpki: %w (generate the PKI first)", err)
	}
	old, env, err := agreement.FromEnvelope(raw, 0)
	if err != nil {
		return fmt.Errorf("devpki: %s: %w", agreementFile, err)
	}
	ag := proto.Clone(old.Proto).(*mvmv1.Agreement)
	ag.Witnesses = append(ag.Witnesses, &mvmv1.Witness{Name: name, VerifierKey: vkey})
	if _, err := agreement.Parse(ag, 0); err != nil {
		return fmt.Errorf("devpki: witness %s: %w", name, err)
	}
	// The same signers, in the same order, as the envelope in force.
	var signers []envelope.Signer
	for _, sig := range env.Signatures {
		id, err := signerIdentity(sig)
		if err != nil {
			return err
		}
		tc, err := LoadKeyPair(dir, id.Name)
		if err != nil {
			return err
		}
		signers = append(signers, envelope.Signer{Key: tc.PrivateKey.(crypto.Signer), Certificate: tc.Leaf, EmbedCertificate: true})
	}
	sealed, err := envelope.Seal(ag, signers...)
	if err != nil {
		return fmt.Errorf("devpki: sealing the agreement: %w", err)
	}
	text, err := agreementText(ag, signers)
	if err != nil {
		return err
	}
	return writeAll(dir, []file{{agreementFile, sealed, fileMode}, {agreementTextFile, text, fileMode}})
}

// signerIdentity is the identity of the certificate embedded in sig.
func signerIdentity(sig *mvmv1.Signature) (identity.Identity, error) {
	cert, err := x509.ParseCertificate(sig.GetCertificate())
	if err != nil {
		return identity.Identity{}, fmt.Errorf("devpki: %s signature: %w", agreementFile, err)
	}
	return identity.Parse(cert)
}
