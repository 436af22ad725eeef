package workflow

import (
	"slices"

	"google.golang.org/protobuf/proto"

	"github.com/mvm-exchange/mvm/internal/agreement"
	"github.com/mvm-exchange/mvm/internal/message"
	mvmv1 "github.com/mvm-exchange/mvm/proto/mvm/v1"
)

// Sealed bodies: the agreement in force when a package is submitted says
// whether it is sealed (sealed_bodies); every later message on it follows
// the package, whatever amendments say since, because its recipients hold
// its key. The reducer sees headers only; bodies are checked by their
// recipients (message.Open).

// checkSealing checks a target package's sealing against the agreement:
// sealed exactly when the agreement says so, and then wrapped for the
// current key of the parties that must read it: the author's own party,
// the responder and every mediator, others of the agreement allowed.
func checkSealing(ag *agreement.Agreement, tp *mvmv1.TargetPackage, author, responder string) error {
	sealed := message.IsSealed(tp)
	switch {
	case ag.SealedBodies && !sealed:
		return refuse(ErrInvalid, "the agreement in force (index %d) seals bodies: seal the package to its recipients", ag.Index)
	case !ag.SealedBodies && sealed:
		return refuse(ErrInvalid, "the agreement in force (index %d) does not seal bodies: send the package unsealed", ag.Index)
	case !sealed:
		return nil
	}
	var to []string
	for _, w := range tp.PackageKeys {
		p, ok := ag.Party(w.Party)
		if !ok {
			return refuse(ErrInvalid, "package_keys: %q is not a party of the agreement", w.Party)
		}
		if p.EncryptionKey == nil || w.KeyId != p.EncryptionKey.ID() {
			return refuse(ErrInvalid, "package_keys: the key for party %s is wrapped to key %s, its key in the agreement in force is %s",
				w.Party, w.KeyId, keyID(p))
		}
		to = append(to, w.Party)
	}
	must := append([]string{author, responder}, ag.PartiesWithRole(mvmv1.Role_ROLE_MEDIATOR)...)
	for _, party := range must {
		if !slices.Contains(to, party) {
			return refuse(ErrInvalid, "package_keys: party %s must be a recipient (the submitter, the responder and every mediator read every package)", party)
		}
	}
	return nil
}

func keyID(p *agreement.Party) string {
	if p.EncryptionKey == nil {
		return "none"
	}
	return p.EncryptionKey.ID()
}

// sealedLike checks that a message on pkg is sealed exactly when pkg is.
func sealedLike(pkg *Package, m proto.Message) error {
	switch sealed := message.IsSealed(m); {
	case pkg.Sealed && !sealed:
		return refuse(ErrInvalid, "package %s is sealed: seal the message to its recipients", pkg.ID)
	case !pkg.Sealed && sealed:
		return refuse(ErrInvalid, "package %s is not sealed: send the message unsealed", pkg.ID)
	}
	return nil
}
