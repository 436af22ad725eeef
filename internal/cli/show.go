package cli

import (
	"context"
	"encoding/hex"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"

	"google.golang.org/protobuf/proto"

	"github.com/mvm-exchange/mvm/client/mvmclient"
	"github.com/mvm-exchange/mvm/internal/audit"
	"github.com/mvm-exchange/mvm/internal/entry"
	"github.com/mvm-exchange/mvm/internal/message"
	"github.com/mvm-exchange/mvm/internal/workflow"
	mvmv1 "github.com/mvm-exchange/mvm/proto/mvm/v1"
)

// show prints a package as re-derived on the client from its signed
// entries (mvmclient.VerifyPackage), never the server's summary: the
// status and deadlines the reducer derives, every signed field of every
// entry, and the checkpoint it was all verified against.
func (e *env) show(ctx context.Context, c *mvmclient.Client, id, statePath string) error {
	v, notes, err := e.openedPackage(ctx, c, id, statePath)
	if err != nil {
		return err
	}
	printPackage(e.stdout, v)
	for _, n := range notes {
		e.printf("%s\n", n)
	}
	e.printf("verified against checkpoint size %d: %d signed entries, their signatures, inclusion proofs and the workflow; the log holds no other entry of it\n",
		v.Checkpoint.Size, len(v.Entries))
	return nil
}

// verifiedPackage is a package re-derived from its signed entries, all of
// those the verified log holds, its sealed bodies opened where the
// caller's key opens them (evidence get and list use it).
func (e *env) verifiedPackage(ctx context.Context, c *mvmclient.Client, id, statePath string) (*mvmclient.VerifiedPackage, error) {
	v, _, err := e.openedPackage(ctx, c, id, statePath)
	return v, err
}

// openedPackage is verifiedPackage with the notes on what could not be
// opened, and why (show prints them).
func (e *env) openedPackage(ctx context.Context, c *mvmclient.Client, id, statePath string) (*mvmclient.VerifiedPackage, []string, error) {
	resp, err := c.Package(ctx, id)
	if err != nil {
		return nil, nil, err
	}
	// The scan that derives the agreements also finds every entry of the
	// package the log holds (or, with --state, the package members the
	// saved verifier state keeps): the server cannot withhold one.
	var inLog []uint64
	visit := func(index uint64, o *entry.Opened) error {
		if o.Payload != nil && !o.IsAgreement() && message.PackageID(o.Payload) == id {
			inLog = append(inLog, index)
		}
		return nil
	}
	ver, err := e.verifiedLog(ctx, c, statePath, nil, audit.Options{AgreementsOnly: true, Visit: visit})
	if err != nil {
		return nil, nil, err
	}
	if ver.Members != nil {
		// With --state, the verifier resumed: it visited only the entries
		// logged since, and its package members hold them all.
		inLog = ver.Members[id]
	}
	sent, err := leafIndexes(resp.Leaves, ver.Checkpoint.Size)
	if err != nil {
		return nil, nil, fmt.Errorf("package %s does not verify, not shown: %w", id, err)
	}
	if !slices.Equal(sent, inLog) {
		// Entries logged since the first answer are not withheld: ask once
		// more, now that the checkpoint is fixed.
		if resp, err = c.Package(ctx, id); err != nil {
			return nil, nil, err
		}
		if sent, err = leafIndexes(resp.Leaves, ver.Checkpoint.Size); err != nil {
			return nil, nil, fmt.Errorf("package %s does not verify, not shown: %w", id, err)
		}
		if !slices.Equal(sent, inLog) {
			return nil, nil, fmt.Errorf("package %s does not verify, not shown: the log of checkpoint size %d holds its entries %v, the server sent %v",
				id, ver.Checkpoint.Size, inLog, sent)
		}
	}
	resp.Leaves = resp.Leaves[:len(sent)]
	v, err := c.VerifyPackage(ctx, resp, id, ver.Checkpoint, ver.Agreements)
	if err != nil {
		return nil, nil, fmt.Errorf("package %s does not verify, not shown: %w", id, err)
	}
	return v, e.openSealed(c, v, ver.Agreements), nil
}

// leafIndexes returns the indexes of the leaves below size, which must
// come first: the entries a package answer holds within a checkpoint.
func leafIndexes(leaves [][]byte, size uint64) ([]uint64, error) {
	var out []uint64
	for _, l := range leaves {
		en, err := entry.DecodeLeaf(l)
		if err != nil {
			return nil, err
		}
		if en.Index >= size {
			break
		}
		out = append(out, en.Index)
	}
	return out, nil
}

func printPackage(w io.Writer, v *mvmclient.VerifiedPackage) {
	p := v.State
	fmt.Fprintf(w, "package: %s\nstatus: %s\nsubmitter: %s\nresponder: %s\n", p.ID, p.Status, p.Submitter.URI(), p.Responder)
	if o := p.Outcome(); o != "" {
		fmt.Fprintf(w, "outcome: %s\n", o)
	}
	if sum := p.Target.GetSummary(); sum != "" {
		fmt.Fprintf(w, "summary: %s\n", sum)
	}
	for _, r := range p.OpenRequests() {
		fmt.Fprintf(w, "open request: %s\n", r)
	}
	for _, f := range p.Findings {
		fmt.Fprintf(w, "finding: %s %s by %s (index %d)\n", f.ID, workflow.VerdictName(f.Verdict), f.Mediator, f.Index)
	}
	if d := p.Dispute; d != nil {
		fmt.Fprintf(w, "dispute: %s\n", d.ID)
		pending := p.PendingRulings()
		for _, dec := range slices.Sorted(maps.Keys(pending)) {
			fmt.Fprintf(w, "ruling signed by %s: %s\n", strings.Join(pending[dec], ", "), dec)
		}
		if d.Decision != "" {
			fmt.Fprintf(w, "decision: %s\n", d.Decision)
		}
	}
	for _, d := range p.Deadlines {
		met := "open"
		if !d.Met.IsZero() {
			met = "met " + stamp(d.Met)
		}
		fmt.Fprintf(w, "deadline: %s by %s due %s, %s\n", d.Name, d.Party, stamp(d.Due), met)
	}
	fmt.Fprintln(w, "history:")
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "  INDEX\tRECEIVED\tTYPE\tAUTHOR\tWHAT")
	for _, en := range v.Entries {
		fmt.Fprintf(tw, "  %d\t%s\t%s\t%s\t%s\n", en.Index, stamp(en.ReceivedAt), workflow.ShortType(en.Type), en.Author, workflow.Describe(en.Payload))
	}
	tw.Flush()
	fmt.Fprintln(w, "signed fields:")
	for _, en := range v.Entries {
		fmt.Fprintf(w, "  #%d %s by %s:\n", en.Index, workflow.ShortType(en.Type), en.Author)
		for _, f := range signedFields(en.Payload) {
			fmt.Fprintf(w, "    %s\n", f)
		}
	}
}

// signedFields renders every field an author signed, one "name: value" a
// line, for the payloads of a package.
func signedFields(m proto.Message) []string {
	var out []string
	add := func(name, value string) {
		if value != "" {
			out = append(out, name+": "+value)
		}
	}
	digests := func(name string, ds [][]byte) {
		for _, d := range ds {
			add(name, "sha256:"+hex.EncodeToString(d))
		}
	}
	if h := message.Header(m); h != nil {
		add("message id", h.GetMessageId())
		if h.GetAuthoredAt() != nil {
			add("authored at", stamp(h.GetAuthoredAt().AsTime()))
		}
	}
	switch p := m.(type) {
	case *mvmv1.TargetPackage:
		for _, l := range p.Locations {
			loc := fmt.Sprintf("%s, %s", strconv.FormatFloat(l.Lat, 'f', -1, 64), strconv.FormatFloat(l.Lon, 'f', -1, 64))
			if l.PrecisionM > 0 {
				loc += fmt.Sprintf(" within %s m", strconv.FormatFloat(l.PrecisionM, 'f', -1, 64))
			}
			if l.Description != "" {
				loc += fmt.Sprintf(" (%s)", l.Description)
			}
			add("location", loc)
		}
		add("responder", p.Responder)
		add("suspected group", p.SuspectedGroup)
		add("priority", enumName(p.Priority.String(), "PRIORITY_"))
		add("tlp", strings.ReplaceAll(enumName(p.Tlp.String(), "TLP_"), "_", "-"))
		add("summary", p.Summary)
		digests("evidence", p.EvidenceSha256)
	case *mvmv1.Acknowledgement:
		add("note", p.Note)
	case *mvmv1.RequestForInformation:
		add("question", p.Question)
	case *mvmv1.InformationResponse:
		add("request", p.RequestId)
		add("answer", p.Answer)
		digests("evidence", p.EvidenceSha256)
	case *mvmv1.ActionReport:
		add("outcome", workflow.OutcomeName(p.Outcome))
		if p.ActionTime != nil {
			add("action time", stamp(p.ActionTime.AsTime()))
		}
		if c := p.Counts; c != nil {
			add("counts", fmt.Sprintf("arrested %d, killed %d, injured %d, weapons seized %d", c.Arrested, c.Killed, c.Injured, c.WeaponsSeized))
		}
		add("note", p.Note)
		digests("evidence", p.EvidenceSha256)
	case *mvmv1.EvidenceSubmission:
		digests("evidence", p.EvidenceSha256)
		add("note", p.Note)
		for _, f := range p.Files {
			add("file", fmt.Sprintf("%s, %d bytes, %s, sha256:%x", quoteName(f.Name), f.StoredSize, dash(f.MediaType), f.StoredSha256))
		}
	case *mvmv1.Withdrawal:
		add("reason", p.Reason)
	case *mvmv1.VerificationFinding:
		add("verdict", workflow.VerdictName(p.Verdict))
		add("reason", p.Reason)
		digests("evidence", p.EvidenceSha256)
	case *mvmv1.Dispute:
		add("finding", p.FindingId)
		add("reason", p.Reason)
	case *mvmv1.Ruling:
		add("dispute", p.DisputeId)
		add("decision", p.Decision)
	}
	// A sealed payload not opened shows its header and what it is sealed
	// to; an opened one has neither.
	if b := message.SealedBody(m); len(b) > 0 {
		add("sealed body", fmt.Sprintf("%d bytes", len(b)))
	}
	for _, w := range message.PackageKeys(m) {
		add("sealed to", fmt.Sprintf("%s (key %s)", w.Party, w.KeyId))
	}
	return out
}

// enumName is a protobuf enum value's name in lower case without prefix,
// "" for the unspecified value.
func enumName(s, prefix string) string {
	s = strings.ToLower(strings.TrimPrefix(s, prefix))
	if s == "unspecified" {
		return ""
	}
	return s
}
