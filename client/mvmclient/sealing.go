package mvmclient

import (
	"errors"
	"fmt"
	"os"

	"google.golang.org/protobuf/proto"

	"github.com/mvm-exchange/mvm/internal/agreement"
	"github.com/mvm-exchange/mvm/internal/message"
	"github.com/mvm-exchange/mvm/internal/seal"
	mvmv1 "github.com/mvm-exchange/mvm/proto/mvm/v1"
)

// LoadKeyring reads a party's decryption key files (package seal PEM, as
// gen-certs writes seal-<party>.key): the current key and any rotated ones
// still needed for older packages.
func LoadKeyring(party string, files ...string) (*message.Keyring, error) {
	var keys []*seal.PrivateKey
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("decryption key: %w", err)
		}
		k, err := seal.ParsePrivateKeyPEM(b)
		if err != nil {
			return nil, fmt.Errorf("decryption key %s: %w", f, err)
		}
		keys = append(keys, k)
	}
	return message.NewKeyring(party, keys...), nil
}

// Recipients returns the recipients of a new package under ag: every party
// of the agreement with its encryption key (the default), or only those
// named in only (the author's party, the responder and the mediators must
// be among them; the server refuses otherwise).
func Recipients(ag *agreement.Agreement, only ...string) ([]message.Recipient, error) {
	var out []message.Recipient
	for _, p := range ag.Parties() {
		if len(only) > 0 && !contains(only, p.ID) {
			continue
		}
		if p.EncryptionKey == nil {
			return nil, fmt.Errorf("party %s has no encryption key in the agreement in force (index %d)", p.ID, ag.Index)
		}
		out = append(out, message.Recipient{Party: p.ID, Key: p.EncryptionKey})
	}
	if len(only) > 0 && len(out) != len(only) {
		return nil, fmt.Errorf("recipients %v: not every one is a party of the agreement in force (index %d)", only, ag.Index)
	}
	return out, nil
}

func contains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// SealOutgoing returns m as it must be sent. A new target package is
// sealed to to when ag (the agreement in force, which the caller verified:
// the encryption keys must never be the server's word) seals bodies. Any
// other message is sealed when its package is: target is the package's
// target package as logged (verified by the caller), kr the author's
// keyring, which must open it. Unsealed modes return m unchanged.
func SealOutgoing(ag *agreement.Agreement, kr *message.Keyring, target *mvmv1.TargetPackage, to []message.Recipient, m proto.Message) (proto.Message, error) {
	if tp, ok := m.(*mvmv1.TargetPackage); ok {
		if !ag.SealedBodies {
			return m, nil
		}
		sealed, _, err := message.SealPackage(tp, ag.LogOrigin, to)
		return sealed, err
	}
	if target == nil || !message.IsSealed(target) {
		return m, nil
	}
	if kr == nil {
		return nil, errors.New("the package is sealed: a decryption key of your party is needed to seal messages on it")
	}
	key, err := kr.PackageKey(ag.LogOrigin, target)
	if err != nil {
		return nil, err
	}
	return message.SealMessage(m, ag.LogOrigin, key)
}
