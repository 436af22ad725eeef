package cli

import (
	"errors"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/mvm-exchange/mvm/internal/agreement"
	"github.com/mvm-exchange/mvm/internal/entry"
	"github.com/mvm-exchange/mvm/internal/envelope"
	"github.com/mvm-exchange/mvm/internal/message"
	"github.com/mvm-exchange/mvm/internal/workflow"
	"google.golang.org/protobuf/proto"
)

// Each row names its package's summary (summary(id), asked once per
// package): the reader learns which target is overdue, not only its id.
func printBreaches(w io.Writer, asOf time.Time, bs []workflow.Breach, summary func(id string) string) error {
	fmt.Fprintf(w, "breaches as of %s: %d\n", stamp(asOf), len(bs))
	if len(bs) == 0 {
		return nil
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "PACKAGE\tPARTY\tDEADLINE\tDUE\tLATE\tSUMMARY")
	summaries := map[string]string{}
	for _, b := range bs {
		s, ok := summaries[b.PackageID]
		if !ok {
			s = summary(b.PackageID)
			summaries[b.PackageID] = s
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", b.PackageID, b.Party, b.Deadline, stamp(b.Due), b.Late.Truncate(time.Second), s)
	}
	return tw.Flush()
}

// describeEntry renders one leaf as a line: index, time, type, author.
func describeEntry(index uint64, leaf []byte) string {
	return describeOpened(index, leaf, nil)
}

// describeOpened is describeEntry with the payload as open returns it (a
// sealed body opened); a sealed payload it does not open is marked.
func describeOpened(index uint64, leaf []byte, open func(*entry.Opened) (proto.Message, bool)) string {
	o, err := entry.Open(leaf)
	switch {
	case errors.Is(err, entry.ErrLeaf):
		return fmt.Sprintf("#%d undecodable: %v", index, err)
	case errors.Is(err, entry.ErrEnvelope):
		return fmt.Sprintf("#%d %s undecodable envelope: %v", index, stamp(o.ReceivedAt()), err)
	case errors.Is(err, entry.ErrPayload):
		return fmt.Sprintf("#%d %s %s: %v", index, stamp(o.ReceivedAt()), o.Type, err)
	}
	payload, mark := o.Payload, ""
	if open != nil {
		var ok bool
		if payload, ok = open(o); !ok {
			mark = " [sealed: header only]"
		}
	}
	// A payload that breaks a message rule (entry.ErrInvalid) is listed
	// as it reads; audit is what judges it.
	return fmt.Sprintf("#%d %s %s %s: %s%s", index, stamp(o.ReceivedAt()), workflow.ShortType(o.Type),
		message.PackageID(payload), workflow.Describe(payload), mark)
}

func printAgreement(w io.Writer, ag *agreement.Agreement, signedBy string) {
	p := ag.Proto
	fmt.Fprintf(w, "agreement: %s\nindex: %d\n", p.Title, ag.Index)
	if ag.Index > 0 {
		fmt.Fprintf(w, "amends: %d\n", p.AmendsIndex)
	}
	fmt.Fprintf(w, "trust domain: %s\nlog origin: %s\nlog key: %s\n", ag.TrustDomain, ag.LogOrigin, ag.LogKey)
	fmt.Fprintf(w, "deadlines: acknowledge %s, action report %s after acknowledgement, evidence %s after report\n",
		ag.Deadlines.Acknowledge, ag.Deadlines.ActionReport, ag.Deadlines.Evidence)
	fmt.Fprintf(w, "ruling quorum: %d mediators\nwitness quorum: %d cosignatures\n", ag.RulingQuorum, ag.WitnessQuorum)
	fmt.Fprintf(w, "clock skew: at most %s between a message's signed time and its receipt\n", ag.ClockSkew)
	fmt.Fprintf(w, "sealed bodies: %v\n", ag.SealedBodies)
	if ag.EvidenceNeedsFiles {
		fmt.Fprintln(w, "evidence needs files: true (the evidence deadline is met only by a submission naming a stored file)")
	} else {
		fmt.Fprintln(w, "evidence needs files: false (any evidence submission meets the evidence deadline, digests alone too)")
	}
	fmt.Fprintln(w, "parties:")
	for _, party := range ag.Parties() {
		fmt.Fprintf(w, "  %s (%s): %s", party.ID, party.Name, agreement.RoleName(party.Role))
		for _, ca := range party.CAs {
			fmt.Fprintf(w, ", CA %q sha256:%s", ca.Subject.CommonName, envelope.Fingerprint(ca.Raw)[:16])
		}
		fmt.Fprintln(w)
		for _, k := range party.CosignerKeys {
			fmt.Fprintf(w, "    cosigner key: %s\n", k)
		}
	}
	fmt.Fprintf(w, "signed by: %s\n", signedBy)
}
