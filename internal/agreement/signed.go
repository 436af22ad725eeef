package agreement

import (
	"crypto/x509"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/mvm-exchange/mvm/internal/envelope"
	"github.com/mvm-exchange/mvm/internal/identity"
	"github.com/mvm-exchange/mvm/internal/message"
	mvmv1 "github.com/mvm-exchange/mvm/proto/mvm/v1"
)

// VerifyAllSigned checks a multi-party envelope (an agreement or an
// amendment). Every signature must embed its certificate, verify over the
// payload, and come from an identity trusted by at least one of the given
// agreements at time at; and every party of every given agreement must have
// signed. For an amendment pass both the agreement in force and the new one,
// so that no party can be added or removed without its consent.
//
// It returns the signers, one per signature, in signature order.
func VerifyAllSigned(env *mvmv1.Envelope, at time.Time, agreements ...*Agreement) ([]identity.Identity, error) {
	signers, missing, err := VerifySigned(env, at, agreements...)
	if err != nil {
		return nil, err
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("%w: missing %s", ErrUnsigned, strings.Join(missing, ", "))
	}
	return signers, nil
}

// VerifySigned checks every signature of a multi-party envelope as
// VerifyAllSigned does, without requiring every party: it returns the
// signers in signature order and the parties of the given agreements that
// have not signed yet, sorted. An amendment being passed around for
// signatures is checked with it.
func VerifySigned(env *mvmv1.Envelope, at time.Time, agreements ...*Agreement) ([]identity.Identity, []string, error) {
	signed := make([]map[string]bool, len(agreements))
	for i := range signed {
		signed[i] = map[string]bool{}
	}
	var signers []identity.Identity
	for i, s := range env.Signatures {
		if len(s.Certificate) == 0 {
			return nil, nil, fmt.Errorf("%w: signature %d has no embedded certificate", ErrUnsigned, i)
		}
		cert, err := x509.ParseCertificate(s.Certificate)
		if err != nil {
			return nil, nil, fmt.Errorf("%w: signature %d certificate: %v", ErrUnsigned, i, err)
		}
		if err := envelope.Verify(env.PayloadType, env.Payload, s.Sig, cert.PublicKey); err != nil {
			return nil, nil, fmt.Errorf("signature %d: %w", i, err)
		}
		var who identity.Identity
		trusted := false
		var lastErr error
		for j, a := range agreements {
			id, _, err := a.Authenticate(cert, nil, at)
			if err != nil {
				lastErr = err
				continue
			}
			who, trusted = id, true
			signed[j][id.Party] = true
		}
		if !trusted {
			return nil, nil, fmt.Errorf("signature %d: %w", i, lastErr)
		}
		signers = append(signers, who)
	}
	var missing []string
	for j, a := range agreements {
		for _, id := range a.order {
			if !signed[j][id] && !slices.Contains(missing, id) {
				missing = append(missing, id)
			}
		}
	}
	sort.Strings(missing)
	return signers, missing, nil
}

// FromEnvelope decodes a serialized agreement envelope (such as the dev
// PKI's agreement.envelope) and parses its agreement as the one at index.
// It does not check the signatures: see VerifyAllSigned.
func FromEnvelope(raw []byte, index uint64) (*Agreement, *mvmv1.Envelope, error) {
	env, err := envelope.Parse(raw)
	if err != nil {
		return nil, nil, err
	}
	if env.PayloadType != message.TypeAgreement {
		return nil, nil, fmt.Errorf("%w: the envelope holds a %s", ErrInvalid, env.PayloadType)
	}
	p, err := message.Decode(env.PayloadType, env.Payload)
	if err != nil {
		return nil, nil, err
	}
	ag, err := Parse(p.(*mvmv1.Agreement), index)
	if err != nil {
		return nil, nil, err
	}
	return ag, env, nil
}
