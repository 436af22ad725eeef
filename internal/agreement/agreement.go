// Package agreement interprets the signed agreement: log entry 0 and every
// amendment after it.
//
// The agreement is the only source of who may do what. A certificate says
// who its holder is (see package identity); the agreement says which CA
// speaks for each party, which role each party has, the deadlines and the
// mediator quorums.
//
// Guarantees:
//   - [Parse] accepts only a complete agreement: at least one submitter, one
//     responder and one mediator; every party with a CA; quorums that the
//     listed mediators can reach.
//   - [Agreement.Authenticate] accepts a certificate only if it chains to the
//     CA of the very party it names, for the agreement's trust domain, at the
//     given time. A pk CA cannot issue an af identity.
//     Successful verifications are cached by certificate for their
//     validity window, in a cache of bounded size (least recently used
//     out), so minted certificates cost no lasting memory; revocation is not the agreement's concern (package
//     revocation), so callers check it after Authenticate, outside the
//     cache.
//   - [VerifyAllSigned] accepts a multi-signed envelope only if every party
//     has at least one valid signature by one of its identities;
//     [VerifySigned] says who signed and who is missing.
//   - [Agreement.CountWitnesses] is the one witness count of the system: a
//     mediator party counts once (by its cosigner keys or its nodes), an
//     external witness once, and only with the keys of the agreement it is
//     called on, which must be the one in force at the checkpoint's size
//     ([InForceAt]). A cosigner name (a mediator's cosigner key or a
//     witness) belongs to one party or witness only; a witness bound to a
//     party is a node of a mediator of the agreement.
//   - [Diff] lists every change of an amendment, marking those that change
//     who is trusted or what counts.
//   - An agreement with sealed_bodies has an encryption key for every
//     party ([Party.EncryptionKey]), each a valid MLKEM768X25519 public key
//     of package seal, no two parties sharing one. Without sealed_bodies a
//     key is optional but must still parse.
//
// The package is pure: no I/O, no gRPC, no storage.
package agreement

import (
	"crypto/x509"
	"errors"
	"fmt"
	"sort"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
	"google.golang.org/protobuf/types/known/durationpb"

	fnote "github.com/transparency-dev/formats/note"

	"github.com/mvm-exchange/mvm/internal/identity"
	"github.com/mvm-exchange/mvm/internal/seal"
	mvmv1 "github.com/mvm-exchange/mvm/proto/mvm/v1"
)

// Default deadlines, used when the agreement leaves one unset.
const (
	DefaultAcknowledge  = 24 * time.Hour
	DefaultActionReport = 7 * 24 * time.Hour
	DefaultEvidence     = 10 * 24 * time.Hour
	DefaultClockSkew    = 5 * time.Minute
)

// Errors a caller may branch on.
var (
	// ErrInvalid means the agreement itself is malformed or incomplete.
	ErrInvalid = errors.New("invalid agreement")
	// ErrUntrusted means a certificate is not trusted for the party it names.
	ErrUntrusted = errors.New("untrusted certificate")
	// ErrUnsigned means a party has not signed a multi-party envelope.
	ErrUnsigned = errors.New("not signed by every party")
)

// Role is a party's role in the mechanism.
type Role = mvmv1.Role

// RoleName is the lower-case name of a role: submitter, responder, mediator.
func RoleName(r Role) string {
	switch r {
	case mvmv1.Role_ROLE_SUBMITTER:
		return "submitter"
	case mvmv1.Role_ROLE_RESPONDER:
		return "responder"
	case mvmv1.Role_ROLE_MEDIATOR:
		return "mediator"
	}
	return "none"
}

// Party is one party of the agreement with its CA pool.
type Party struct {
	ID           string
	Name         string
	Role         Role
	CAs          []*x509.Certificate
	pool         *x509.CertPool
	CosignerKeys []string
	// EncryptionKey is the key package keys are wrapped to for this party;
	// nil when the agreement does not seal bodies and none was given.
	EncryptionKey *seal.PublicKey
}

// Witness is a C2SP tlog-witness of the agreement: its name (the key name
// of its cosignatures) and its cosignature/v1 verifier key. Party is the
// mediator party whose node it is, or "" for an external witness.
type Witness struct {
	Name  string
	Key   string
	Party string
}

// Deadlines in force.
type Deadlines struct {
	Acknowledge  time.Duration
	ActionReport time.Duration
	Evidence     time.Duration
}

// Agreement is a parsed, validated agreement.
type Agreement struct {
	// Index is the log index of the entry holding it.
	Index         uint64
	Proto         *mvmv1.Agreement
	TrustDomain   string
	LogOrigin     string
	LogKey        string
	Deadlines     Deadlines
	RulingQuorum  int
	WitnessQuorum int
	// Witnesses are the external C2SP tlog-witnesses that count toward
	// WitnessQuorum, in agreement order.
	Witnesses []Witness
	// ClockSkew bounds |author's timestamp − receive time| of every entry
	// but agreements (whose parties sign them over days).
	ClockSkew time.Duration
	// SealedBodies: target packages submitted under this agreement seal
	// their sensitive fields to their recipients (package message).
	SealedBodies bool
	// EvidenceNeedsFiles: an evidence deadline is met only by an evidence
	// submission, logged under this agreement, that names a stored file
	// (package workflow); false, by any evidence submission or an action
	// report citing evidence, as agreements made before the rule.
	EvidenceNeedsFiles bool

	parties map[string]*Party
	order   []string
	// verified caches successful chain verifications by leaf SHA-256:
	// x509 path building costs more than the rest of an append. A party
	// can mint certificates from its own CA at will, so the cache is
	// bounded (least recently used out): it saves work, never grows.
	verified *lru.Cache[[32]byte, verifiedChain]
}

// Parse validates an agreement payload found at log index idx.
func Parse(p *mvmv1.Agreement, idx uint64) (*Agreement, error) {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, args...))
	}
	if p.GetTrustDomain() == "" {
		return nil, bad("trust_domain is required")
	}
	if p.GetLogOrigin() == "" {
		return nil, bad("log_origin is required")
	}
	a := &Agreement{
		verified:           newChainCache(),
		Index:              idx,
		Proto:              p,
		TrustDomain:        p.TrustDomain,
		LogOrigin:          p.LogOrigin,
		LogKey:             p.LogVerifierKey,
		parties:            map[string]*Party{},
		SealedBodies:       p.GetSealedBodies(),
		EvidenceNeedsFiles: p.GetEvidenceNeedsFiles(),
	}
	encKeys := map[string]string{} // key id → party
	roles := map[Role]int{}
	mediatorKeys := 0
	cosigners := map[string]string{} // key name → party
	for i, pp := range p.Parties {
		if !identity.ValidName(pp.Id) {
			return nil, bad("parties[%d].id %q is not a valid party id", i, pp.Id)
		}
		if _, dup := a.parties[pp.Id]; dup {
			return nil, bad("party %q listed twice", pp.Id)
		}
		if pp.Role == mvmv1.Role_ROLE_UNSPECIFIED || RoleName(pp.Role) == "none" {
			return nil, bad("party %q has no role", pp.Id)
		}
		if len(pp.CaCertificates) == 0 {
			return nil, bad("party %q has no CA certificate", pp.Id)
		}
		party := &Party{ID: pp.Id, Name: pp.Name, Role: pp.Role, pool: x509.NewCertPool(), CosignerKeys: pp.CosignerKeys}
		for j, der := range pp.CaCertificates {
			ca, err := x509.ParseCertificate(der)
			if err != nil {
				return nil, bad("party %q CA %d: %v", pp.Id, j, err)
			}
			if !ca.IsCA {
				return nil, bad("party %q CA %d is not a CA certificate", pp.Id, j)
			}
			party.CAs = append(party.CAs, ca)
			party.pool.AddCert(ca)
		}
		if len(pp.CosignerKeys) > 0 && pp.Role != mvmv1.Role_ROLE_MEDIATOR {
			return nil, bad("party %q is not a mediator but lists cosigner keys", pp.Id)
		}
		for j, k := range pp.CosignerKeys {
			v, err := fnote.NewVerifierForCosignatureV1(k)
			if err != nil {
				return nil, bad("party %q cosigner key %d: %v", pp.Id, j, err)
			}
			// Cosignatures are stored and counted by key name, so a name
			// must belong to one party only.
			if other, dup := cosigners[v.Name()]; dup {
				return nil, bad("cosigner key name %q is used by parties %q and %q", v.Name(), other, pp.Id)
			}
			cosigners[v.Name()] = pp.Id
		}
		if err := parseEncryptionKey(party, pp.EncryptionKey, a.SealedBodies, encKeys); err != nil {
			return nil, bad("%v", err)
		}
		if pp.Role == mvmv1.Role_ROLE_MEDIATOR && len(pp.CosignerKeys) > 0 {
			mediatorKeys++
		}
		roles[pp.Role]++
		a.parties[pp.Id] = party
		a.order = append(a.order, pp.Id)
	}
	for _, r := range []Role{mvmv1.Role_ROLE_SUBMITTER, mvmv1.Role_ROLE_RESPONDER, mvmv1.Role_ROLE_MEDIATOR} {
		if roles[r] == 0 {
			return nil, bad("no party has the %s role", RoleName(r))
		}
	}
	a.RulingQuorum = int(p.RulingQuorum)
	if a.RulingQuorum == 0 {
		a.RulingQuorum = 1
	}
	if a.RulingQuorum > roles[mvmv1.Role_ROLE_MEDIATOR] {
		return nil, bad("ruling_quorum %d exceeds the %d mediators", a.RulingQuorum, roles[mvmv1.Role_ROLE_MEDIATOR])
	}
	external, nodeParties := 0, map[string]bool{}
	for i, w := range p.Witnesses {
		v, err := fnote.NewVerifierForCosignatureV1(w.VerifierKey)
		if err != nil {
			return nil, bad("witnesses[%d] (%q) verifier key: %v", i, w.Name, err)
		}
		if v.Name() != w.Name {
			return nil, bad("witnesses[%d] is named %q but its key is named %q", i, w.Name, v.Name())
		}
		if other, dup := cosigners[w.Name]; dup {
			return nil, bad("witness name %q is already used by %s", w.Name, other)
		}
		cosigners[w.Name] = "witness " + w.Name
		if w.Party != "" {
			// A node votes for its party: one party cannot make a
			// checkpoint witnessed alone by running nodes.
			if mp, ok := a.parties[w.Party]; !ok || mp.Role != mvmv1.Role_ROLE_MEDIATOR {
				return nil, bad("witnesses[%d] (%q) is the node of party %q, which is not a mediator of this agreement", i, w.Name, w.Party)
			}
			if len(a.parties[w.Party].CosignerKeys) == 0 && !nodeParties[w.Party] {
				mediatorKeys++
			}
			nodeParties[w.Party] = true
		} else {
			external++
		}
		a.Witnesses = append(a.Witnesses, Witness{Name: w.Name, Key: w.VerifierKey, Party: w.Party})
	}
	a.WitnessQuorum = int(p.WitnessQuorum)
	if a.WitnessQuorum > mediatorKeys+external {
		return nil, bad("witness_quorum %d exceeds the %d mediators with cosigner keys or nodes and %d external witnesses",
			a.WitnessQuorum, mediatorKeys, external)
	}
	d := p.GetDeadlines()
	var err error
	if a.Deadlines.Acknowledge, err = duration(d.GetAcknowledge(), DefaultAcknowledge); err != nil {
		return nil, bad("deadlines.acknowledge: %v", err)
	}
	if a.Deadlines.ActionReport, err = duration(d.GetActionReport(), DefaultActionReport); err != nil {
		return nil, bad("deadlines.action_report: %v", err)
	}
	if a.Deadlines.Evidence, err = duration(d.GetEvidence(), DefaultEvidence); err != nil {
		return nil, bad("deadlines.evidence: %v", err)
	}
	if a.ClockSkew, err = duration(p.GetMaxClockSkew(), DefaultClockSkew); err != nil {
		return nil, bad("max_clock_skew: %v", err)
	}
	return a, nil
}

// parseEncryptionKey sets party's encryption key from its bytes: required
// when bodies are sealed, and never shared with another party (a wrap for
// one would open for the other).
func parseEncryptionKey(party *Party, b []byte, sealed bool, seen map[string]string) error {
	if len(b) == 0 {
		if sealed {
			return fmt.Errorf("party %q has no encryption_key, which sealed_bodies requires (gen-certs writes one per party)", party.ID)
		}
		return nil
	}
	k, err := seal.ParsePublicKey(b)
	if err != nil {
		return fmt.Errorf("party %q encryption_key: %w", party.ID, err)
	}
	if other, dup := seen[k.ID()]; dup {
		return fmt.Errorf("encryption key %s is used by parties %q and %q", k.ID(), other, party.ID)
	}
	seen[k.ID()] = party.ID
	party.EncryptionKey = k
	return nil
}

func duration(d *durationpb.Duration, def time.Duration) (time.Duration, error) {
	if d == nil {
		return def, nil
	}
	if err := d.CheckValid(); err != nil {
		return 0, err
	}
	if v := d.AsDuration(); v > 0 {
		return v, nil
	}
	return 0, errors.New("must be positive")
}

// Party returns the party with the given id.
func (a *Agreement) Party(id string) (*Party, bool) {
	p, ok := a.parties[id]
	return p, ok
}

// Parties returns the parties in agreement order.
func (a *Agreement) Parties() []*Party {
	out := make([]*Party, 0, len(a.order))
	for _, id := range a.order {
		out = append(out, a.parties[id])
	}
	return out
}

// RoleOf returns the role of a party, ROLE_UNSPECIFIED if it is not a party.
func (a *Agreement) RoleOf(party string) Role {
	if p, ok := a.parties[party]; ok {
		return p.Role
	}
	return mvmv1.Role_ROLE_UNSPECIFIED
}

// PartiesWithRole returns the ids of the parties with role r, sorted.
func (a *Agreement) PartiesWithRole(r Role) []string {
	var ids []string
	for id, p := range a.parties {
		if p.Role == r {
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	return ids
}

// CosignerKeys returns every mediator's cosigner verifier keys by party.
func (a *Agreement) CosignerKeys() map[string][]string {
	out := map[string][]string{}
	for id, p := range a.parties {
		if p.Role == mvmv1.Role_ROLE_MEDIATOR && len(p.CosignerKeys) > 0 {
			out[id] = p.CosignerKeys
		}
	}
	return out
}
