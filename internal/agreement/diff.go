package agreement

import (
	"crypto/x509"
	"fmt"
	"slices"
	"strconv"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/mvm-exchange/mvm/internal/envelope"
	"github.com/mvm-exchange/mvm/internal/seal"
	mvmv1 "github.com/mvm-exchange/mvm/proto/mvm/v1"
)

// Change is one difference between the agreement in force and a proposed
// amendment of it. Old is empty for something added, New for something
// removed.
type Change struct {
	Field    string
	Old, New string
	// Security marks a change of who is trusted or of what counts: a
	// party, a role, a CA, a cosigner key, the log key or origin, the trust
	// domain, a quorum, the clock skew, sealing, what meets the evidence
	// deadline. A party asked to sign must see these first.
	Security bool
}

// String renders the change as one line, security-relevant ones marked.
func (c Change) String() string {
	mark := "  "
	if c.Security {
		mark = "! "
	}
	switch {
	case c.Old == "":
		return fmt.Sprintf("%s%s: added %s", mark, c.Field, c.New)
	case c.New == "":
		return fmt.Sprintf("%s%s: removed %s", mark, c.Field, c.Old)
	}
	return fmt.Sprintf("%s%s: %s -> %s", mark, c.Field, c.Old, c.New)
}

// Diff lists every change from cur (the agreement in force) to next (a
// proposed amendment), in a fixed order: the log and trust domain, the
// quorums and deadlines, then the parties in next's order (removed ones
// last). The header and amends_index, which every amendment changes, are
// not listed. Anything else that differs and Diff does not name (a field
// added to the format later) is reported as one security-relevant change,
// so that no difference goes unshown.
func Diff(cur, next *Agreement) []Change {
	var out []Change
	add := func(field, o, n string, sec bool) {
		if o != n {
			out = append(out, Change{Field: field, Old: o, New: n, Security: sec})
		}
	}
	add("title", cur.Proto.GetTitle(), next.Proto.GetTitle(), false)
	add("trust domain", cur.TrustDomain, next.TrustDomain, true)
	add("log origin", cur.LogOrigin, next.LogOrigin, true)
	add("log key", cur.LogKey, next.LogKey, true)
	add("ruling quorum", strconv.Itoa(cur.RulingQuorum), strconv.Itoa(next.RulingQuorum), true)
	add("witness quorum", strconv.Itoa(cur.WitnessQuorum), strconv.Itoa(next.WitnessQuorum), true)
	add("clock skew", dur(cur.ClockSkew), dur(next.ClockSkew), true)
	add("sealed bodies", strconv.FormatBool(cur.SealedBodies), strconv.FormatBool(next.SealedBodies), true)
	// What meets the evidence deadline is what counts as a breach.
	add("evidence needs files", strconv.FormatBool(cur.EvidenceNeedsFiles), strconv.FormatBool(next.EvidenceNeedsFiles), true)
	add("deadline acknowledge", dur(cur.Deadlines.Acknowledge), dur(next.Deadlines.Acknowledge), false)
	add("deadline action report", dur(cur.Deadlines.ActionReport), dur(next.Deadlines.ActionReport), false)
	add("deadline evidence", dur(cur.Deadlines.Evidence), dur(next.Deadlines.Evidence), false)
	for _, np := range next.Parties() {
		field := "party " + np.ID
		cp, ok := cur.Party(np.ID)
		if !ok {
			add(field, "", describeParty(np), true)
			continue
		}
		add(field+" name", cp.Name, np.Name, false)
		add(field+" role", RoleName(cp.Role), RoleName(np.Role), true)
		cas := func(p *Party) []string {
			var s []string
			for _, c := range p.CAs {
				s = append(s, describeCA(c))
			}
			return s
		}
		out = append(out, setDiff(field+" CA", cas(cp), cas(np))...)
		out = append(out, setDiff(field+" cosigner key", cp.CosignerKeys, np.CosignerKeys)...)
		// A new encryption key changes who can read new packages: the
		// party's holders must have its private key before signing.
		add(field+" encryption key", keyID(cp.EncryptionKey), keyID(np.EncryptionKey), true)
	}
	// A node's party is part of what counts: moving a key to another
	// party changes whose vote it is.
	witnesses := func(a *Agreement, nodes bool) []string {
		var s []string
		for _, w := range a.Witnesses {
			switch {
			case nodes && w.Party != "":
				s = append(s, w.Key+" (party "+w.Party+")")
			case !nodes && w.Party == "":
				s = append(s, w.Key)
			}
		}
		return s
	}
	out = append(out, setDiff("external witness", witnesses(cur, false), witnesses(next, false))...)
	out = append(out, setDiff("node witness", witnesses(cur, true), witnesses(next, true))...)
	for _, cp := range cur.Parties() {
		if _, ok := next.Party(cp.ID); !ok {
			add("party "+cp.ID, describeParty(cp), "", true)
		}
	}
	if !sameRest(cur.Proto, next.Proto) {
		out = append(out, Change{Field: "other fields", Old: "as in force", New: "changed (compare the files)", Security: true})
	}
	return out
}

// SecurityChanges counts the security-relevant changes.
func SecurityChanges(cs []Change) int {
	n := 0
	for _, c := range cs {
		if c.Security {
			n++
		}
	}
	return n
}

// setDiff lists the members of old missing from new (removed) and of new
// missing from old (added), each in its list's order.
func setDiff(field string, old, new []string) []Change {
	var out []Change
	for _, o := range old {
		if !slices.Contains(new, o) {
			out = append(out, Change{Field: field, Old: o, Security: true})
		}
	}
	for _, n := range new {
		if !slices.Contains(old, n) {
			out = append(out, Change{Field: field, New: n, Security: true})
		}
	}
	return out
}

func describeCA(c *x509.Certificate) string {
	return fmt.Sprintf("%q sha256:%s", c.Subject.CommonName, envelope.Fingerprint(c.Raw))
}

func describeParty(p *Party) string {
	s := fmt.Sprintf("%s (%s), %d CA(s)", RoleName(p.Role), p.Name, len(p.CAs))
	for _, c := range p.CAs {
		s += " " + describeCA(c)
	}
	if len(p.CosignerKeys) > 0 {
		s += fmt.Sprintf(", %d cosigner key(s)", len(p.CosignerKeys))
	}
	if p.EncryptionKey != nil {
		s += ", encryption key " + p.EncryptionKey.ID()
	}
	return s
}

func dur(d time.Duration) string { return d.String() }

// keyID names an encryption key by its id, "" for none.
func keyID(k *seal.PublicKey) string {
	if k == nil {
		return ""
	}
	return k.ID()
}

// sameRest compares what Diff does not: the agreements without the fields
// it compares one by one, nor those every amendment changes.
func sameRest(a, b *mvmv1.Agreement) bool {
	rest := func(p *mvmv1.Agreement) *mvmv1.Agreement {
		p = proto.Clone(p).(*mvmv1.Agreement)
		p.Header, p.AmendsIndex, p.Title, p.TrustDomain, p.LogOrigin, p.LogVerifierKey = nil, 0, "", "", "", ""
		p.Deadlines, p.RulingQuorum, p.WitnessQuorum, p.MaxClockSkew = nil, 0, 0, nil
		p.Witnesses = nil
		p.SealedBodies, p.EvidenceNeedsFiles = false, false
		for _, pp := range p.Parties {
			pp.Id, pp.Name, pp.Role, pp.CaCertificates, pp.CosignerKeys = "", "", 0, nil, nil
			pp.EncryptionKey = nil
		}
		return p
	}
	a, b = rest(a), rest(b)
	if len(a.Parties) != len(b.Parties) {
		// Parties added or removed are listed already.
		a.Parties, b.Parties = nil, nil
	}
	return proto.Equal(a, b)
}
