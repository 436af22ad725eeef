package report

import (
	"crypto/sha1"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/mvm-exchange/mvm/internal/agreement"
	"github.com/mvm-exchange/mvm/internal/message"
	"github.com/mvm-exchange/mvm/internal/workflow"
	mvmv1 "github.com/mvm-exchange/mvm/proto/mvm/v1"
)

// STIX builds a STIX 2.1 bundle from verified entries: an identity per
// party; for each package a grouping holding its locations (and the
// relationships from it to them), a note for each
// acknowledgement, request, answer, action report, evidence, withdrawal
// and ruling and an opinion for each finding and dispute, each referring to
// the package's grouping; a relationship from a dispute to the finding it
// contests; every object about a package marked with its TLP 2.0 marking.
// A grouping is written whole at its package's submission and never
// changes, so the export holds one marking per package in memory, not the
// bundle. Locations, summaries, notes and reasons come from each entry's
// opened body ([Entry.Content]): an entry the reader cannot open is
// exported as its header (a grouping labelled mvm-sealed-header-only,
// without locations, referring to its submitter; a note of its type).
//
// Ids are UUIDv5 of the log's own ids (party ids, package ids, author and
// message id), so exporting a longer log again gives the objects already
// exported the same ids: MISP and OpenCTI update them, never duplicate.
type STIX struct {
	w       io.Writer
	err     error // the first write error
	n       int   // objects written
	parties map[string]*agreement.Party
	first   time.Time
	// groups is each package's TLP marking; its grouping's id is derived
	// from its id.
	groups map[string]mvmv1.Tlp
	// findings maps a finding's message id to its opinion's id.
	findings map[string]string
	tlps     map[mvmv1.Tlp]bool
}

// NewSTIX starts an export into w. The objects are written as they come,
// so that memory holds one grouping per package, not the bundle; w is
// complete only once [STIX.Bundle] returned (write it to a file that
// appears only then, internal/atomicfile).
func NewSTIX(w io.Writer) *STIX {
	if _, err := io.WriteString(w, "{\n  \"objects\": [\n"); err != nil {
		return &STIX{err: err}
	}
	return &STIX{w: w, parties: map[string]*agreement.Party{}, groups: map[string]mvmv1.Tlp{}, findings: map[string]string{}, tlps: map[mvmv1.Tlp]bool{}}
}

// stixNamespace is the UUIDv5 namespace of every id this exporter makes.
var stixNamespace = [16]byte{0x5c, 0x6b, 0x1e, 0x0a, 0x41, 0x7d, 0x4f, 0x3b, 0x9a, 0x52, 0x0e, 0x7c, 0x2d, 0x83, 0x91, 0x6f}

// stixID is type--UUIDv5(namespace, name) (RFC 9562).
func stixID(typ, name string) string {
	h := sha1.New()
	h.Write(stixNamespace[:])
	h.Write([]byte(name))
	u := h.Sum(nil)[:16]
	u[6] = u[6]&0x0f | 0x50
	u[8] = u[8]&0x3f | 0x80
	return fmt.Sprintf("%s--%x-%x-%x-%x-%x", typ, u[0:4], u[4:6], u[6:8], u[8:10], u[10:16])
}

// TLP 2.0 marking definitions, by their fixed ids (oasis-open
// cti-stix-common-objects).
var tlpMarkings = map[mvmv1.Tlp]struct{ id, name string }{
	mvmv1.Tlp_TLP_CLEAR:        {"marking-definition--94868c89-83c2-464b-929b-a1a8aa3c8487", "clear"},
	mvmv1.Tlp_TLP_GREEN:        {"marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb", "green"},
	mvmv1.Tlp_TLP_AMBER:        {"marking-definition--55d920b0-5e8b-4f79-9ee9-91f868d9b421", "amber"},
	mvmv1.Tlp_TLP_AMBER_STRICT: {"marking-definition--939a9414-2ddd-4d32-a0cd-375ea402b003", "amber+strict"},
	mvmv1.Tlp_TLP_RED:          {"marking-definition--e828b379-4e03-4974-9ac4-e53a884c97c1", "red"},
}

const tlpExtension = "extension-definition--60a3c5c5-0d10-413e-aab3-9e08dde9e88d"

func stixTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }

func partyID(party string) string { return stixID("identity", "party:"+party) }

// Add maps one verified entry, in log order.
func (s *STIX) Add(e Entry) error {
	if ap, ok := e.Payload.(*mvmv1.Agreement); ok {
		ag, err := agreement.Parse(ap, e.Index)
		if err != nil {
			return fmt.Errorf("stix: agreement at index %d: %w", e.Index, err)
		}
		if s.first.IsZero() {
			s.first = e.ReceivedAt
		}
		for _, p := range ag.Parties() {
			s.parties[p.ID] = p
		}
		return nil
	}
	pkg := message.PackageID(e.Payload)
	if pkg == "" {
		return nil // a report publication: the export is of packages
	}
	// The reader's view: a sealed entry it cannot open is its header,
	// without locations, summary, notes or reasons.
	content := e.Content()
	if tp, ok := content.(*mvmv1.TargetPackage); ok {
		tlp := tp.Tlp
		if tlp == mvmv1.Tlp_TLP_UNSPECIFIED {
			tlp = mvmv1.Tlp_TLP_CLEAR
		}
		s.tlps[tlp] = true
		s.groups[pkg] = tlp
		gid := groupID(pkg)
		var refs []string
		for i, l := range tp.Locations {
			name := l.Description
			if name == "" {
				name = fmt.Sprintf("Target package %s, location %d", pkg, i+1)
			}
			loc := s.object(pkg, "location", fmt.Sprintf("package:%s/location:%d", pkg, i), e, map[string]any{
				"name": name, "latitude": l.Lat, "longitude": l.Lon})
			if l.PrecisionM > 0 {
				loc["precision"] = l.PrecisionM
			}
			s.write(loc)
			rel := s.object(pkg, "relationship", fmt.Sprintf("package:%s/located-at:%d", pkg, i), e, map[string]any{
				"relationship_type": "located-at", "source_ref": gid, "target_ref": loc["id"]})
			s.write(rel)
			refs = append(refs, loc["id"].(string), rel["id"].(string))
		}
		labels := []string{"mvm-target-package", "priority-" + priorityName(tp.Priority)}
		if len(refs) == 0 {
			// Its header only (sealed to keys the reader does not hold):
			// a grouping refers to one object at least, here its
			// submitter's identity, which the bundle holds.
			refs = []string{partyID(e.Author.Party)}
			labels = append(labels, "mvm-sealed-header-only")
		}
		g := s.object(pkg, "grouping", "package:"+pkg, e, map[string]any{"name": "Target package " + pkg,
			"context": "suspicious-activity", "object_refs": refs, "labels": labels})
		if d := strings.TrimSpace(tp.Summary + "\n" + tp.SuspectedGroup); d != "" {
			g["description"] = d
		}
		s.write(g)
		return nil
	}
	if _, ok := s.groups[pkg]; !ok {
		return fmt.Errorf("stix: entry %d concerns package %q, not in the log before it", e.Index, pkg)
	}
	gid := groupID(pkg)
	name := e.Author.Party + "/" + message.Header(e.Payload).GetMessageId()
	kind := workflow.ShortType(message.TypeOf(e.Payload))
	var o map[string]any
	switch p := content.(type) {
	case *mvmv1.VerificationFinding:
		o = s.object(pkg, "opinion", "finding:"+name, e, map[string]any{"opinion": verdictOpinion[p.Verdict],
			"explanation": p.Reason, "object_refs": []string{gid}, "labels": []string{"mvm-finding", workflow.VerdictName(p.Verdict)}})
		s.findings[p.Header.MessageId] = o["id"].(string)
	case *mvmv1.Dispute:
		refs := []string{gid}
		f, contested := s.findings[p.FindingId]
		if contested {
			refs = append(refs, f)
		}
		o = s.object(pkg, "opinion", "dispute:"+name, e, map[string]any{"opinion": "strongly-disagree",
			"explanation": p.Reason, "object_refs": refs, "labels": []string{"mvm-dispute"}})
		if contested {
			rel := s.object(pkg, "relationship", "disputes:"+name, e, map[string]any{
				"relationship_type": "related-to", "source_ref": o["id"], "target_ref": f, "description": "disputes"})
			s.write(rel)
		}
	default:
		o = s.object(pkg, "note", "note:"+name, e, map[string]any{"abstract": kind + " by " + e.Author.Party,
			"content": workflow.Describe(content), "object_refs": []string{gid}, "labels": []string{"mvm-" + kind}})
	}
	s.write(o)
	return nil
}

var verdictOpinion = map[mvmv1.Verdict]string{
	mvmv1.Verdict_VERDICT_CONFIRMED:    "agree",
	mvmv1.Verdict_VERDICT_INCONCLUSIVE: "neutral",
	mvmv1.Verdict_VERDICT_CONTRADICTED: "disagree",
}

func priorityName(p mvmv1.Priority) string {
	return strings.ToLower(strings.TrimPrefix(p.String(), "PRIORITY_"))
}

// groupID is the id of package pkg's grouping.
func groupID(pkg string) string { return stixID("grouping", "package:"+pkg) }

// object makes an object about package pkg, by e's author at e's time.
func (s *STIX) object(pkg, typ, name string, e Entry, props map[string]any) map[string]any {
	at := stixTime(e.ReceivedAt)
	o := map[string]any{"type": typ, "spec_version": "2.1", "id": stixID(typ, name), "created": at, "modified": at,
		"created_by_ref": partyID(e.Author.Party), "object_marking_refs": []string{tlpMarkings[s.groups[pkg]].id}}
	for k, v := range props {
		o[k] = v
	}
	return o
}

// write appends one object to the bundle's list.
func (s *STIX) write(o map[string]any) {
	if s.err != nil {
		return
	}
	b, err := json.Marshal(o)
	if err != nil {
		s.err = err
		return
	}
	sep := ",\n    "
	if s.n == 0 {
		sep = "    "
	}
	s.n++
	_, s.err = io.WriteString(s.w, sep+string(b))
}

// Bundle ends the bundle: the TLP marking definitions used and the
// parties after the objects already written, then the bundle's own id, derived from the
// checkpoint's root, the log it was exported from.
func (s *STIX) Bundle(cp Checkpoint) error {
	for _, t := range slices.Sorted(maps.Keys(s.tlps)) {
		m := tlpMarkings[t]
		s.write(map[string]any{"type": "marking-definition", "spec_version": "2.1", "id": m.id,
			"created": "2022-10-01T00:00:00.000Z", "name": "TLP:" + strings.ToUpper(m.name),
			"extensions": map[string]any{tlpExtension: map[string]any{"extension_type": "property-extension", "tlp_2_0": m.name}}})
	}
	for _, id := range slices.Sorted(maps.Keys(s.parties)) {
		p := s.parties[id]
		s.write(map[string]any{"type": "identity", "spec_version": "2.1", "id": partyID(id),
			"created": stixTime(s.first), "modified": stixTime(s.first), "name": p.Name, "identity_class": "organization",
			"description": "party " + id + " of the mechanism", "roles": []string{agreement.RoleName(p.Role)}})
	}
	if s.err != nil {
		return s.err
	}
	_, err := fmt.Fprintf(s.w, "\n  ],\n  \"type\": \"bundle\",\n  \"id\": %q\n}\n",
		stixID("bundle", fmt.Sprintf("log:%s/%d/%x", cp.Origin, cp.Size, cp.Root)))
	return err
}
