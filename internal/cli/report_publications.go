package cli

import (
	"bytes"
	"context"
	"fmt"
	"text/tabwriter"

	"github.com/mvm-exchange/mvm/client/mvmclient"
	"github.com/mvm-exchange/mvm/internal/agreement"
	"github.com/mvm-exchange/mvm/internal/report"
	"github.com/mvm-exchange/mvm/internal/tlog"
	"github.com/mvm-exchange/mvm/internal/workflow"
	mvmv1 "github.com/mvm-exchange/mvm/proto/mvm/v1"
)

// publishReport appends the caller's ReportPublication of a month's report:
// the SHA-256 of its JSON file and the checkpoint it was computed at. The
// server checks that the log had that checkpoint; the receipt is checked
// as every append's (appendSealed).
func (e *env) publishReport(c *mvmclient.Client, month string, digest []byte, cp report.Checkpoint) error {
	m := &mvmv1.ReportPublication{Header: mvmclient.NewHeader(), Month: month, ReportSha256: digest,
		CheckpointSize: cp.Size, CheckpointRoot: cp.Root}
	if err := checkMessage(m); err != nil {
		return err
	}
	env, err := c.Seal(m) // signed; never sealed (not sensitive, see message.Sensitive)
	if err != nil {
		return err
	}
	return e.appendSealed("", c, env, fmt.Sprintf("published %s sha256 %x", month, digest), "report publication")
}

// publication is a logged publication of the month asked, as a reader
// judges it.
type publication struct {
	workflow.Publication
	// bad says why it counts for nothing ("" if it counts): its root is
	// not the log's at its size.
	bad string
}

// monthPublications verifies the log up to the server's latest checkpoint
// (verifiedEntries: the auditor's code, from the pinned genesis) and
// returns what its publications say of month, each publication's
// checkpoint checked against the verified one: the same root at the same
// size, or a consistency proof from it (the server's, checked here, so the
// server's word is not needed). A publication whose checkpoint is not the
// log's is listed and not counted.
func (e *env) monthPublications(ctx context.Context, c *mvmclient.Client, statePath, month string) (*workflow.MonthReport, []publication, *agreement.Agreement, report.Checkpoint, error) {
	type pending struct {
		p  workflow.Publication
		ag *agreement.Agreement
	}
	var (
		found []pending
		ag    *agreement.Agreement
	)
	ver, err := e.verifiedEntries(ctx, c, statePath, nil, nil, func(en report.Entry) error {
		switch p := en.Payload.(type) {
		case *mvmv1.Agreement:
			var err error
			if ag, err = agreement.Parse(p, en.Index); err != nil {
				return fmt.Errorf("agreement at index %d: %w", en.Index, err)
			}
		case *mvmv1.ReportPublication:
			if p.Month == month {
				found = append(found, pending{workflow.Publication{Index: en.Index, ReceivedAt: en.ReceivedAt, Party: en.Author.Party,
					Digest: p.ReportSha256, Size: p.CheckpointSize, Root: p.CheckpointRoot}, ag})
			}
		}
		return nil
	})
	if err != nil {
		return nil, nil, nil, report.Checkpoint{}, err
	}
	cp := reportCheckpoint(ver)
	mr := &workflow.MonthReport{Month: month}
	var all []publication
	for _, f := range found {
		bad, err := checkpointOfLog(ctx, c, f.p.Size, f.p.Root, cp)
		if err != nil {
			return nil, nil, nil, cp, err
		}
		all = append(all, publication{f.p, bad})
		if bad == "" {
			mr.Add(f.ag, f.p)
		}
	}
	return mr, all, ag, cp, nil
}

// checkpointOfLog says why (size, root) is not a checkpoint of the log
// verified at cp ("" if it is one). Publications are entries below cp, so
// their size is at most cp's.
func checkpointOfLog(ctx context.Context, c *mvmclient.Client, size uint64, root []byte, cp report.Checkpoint) (string, error) {
	switch {
	case size > cp.Size:
		return fmt.Sprintf("checkpoint size %d is beyond the verified log (%d)", size, cp.Size), nil
	case size == cp.Size:
		if !bytes.Equal(root, cp.Root) {
			return fmt.Sprintf("root %x is not the log's at size %d", root, size), nil
		}
		return "", nil
	}
	proof, err := consistencyProof(ctx, c)(size, cp.Size)
	if err != nil {
		return "", fmt.Errorf("consistency proof from size %d to %d: %w", size, cp.Size, err)
	}
	if err := tlog.VerifyConsistency(size, cp.Size, proof, root, cp.Root); err != nil {
		return fmt.Sprintf("root %x is not the log's at size %d", root, size), nil
	}
	return "", nil
}

// printPublications lists a month's publications and says whether its
// report is agreed.
func (e *env) printPublications(mr *workflow.MonthReport, all []publication, ag *agreement.Agreement) error {
	e.printf("report %s: %d publication(s)\n", mr.Month, len(all))
	if len(all) > 0 {
		tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "INDEX\tRECEIVED\tMEDIATOR\tSHA256\tCHECKPOINT\t")
		for _, p := range all {
			note := ""
			if p.bad != "" {
				note = "not counted: " + p.bad
			}
			fmt.Fprintf(tw, "%d\t%s\t%s\t%x\t%d\t%s\n", p.Index, stamp(p.ReceivedAt), p.Party, p.Digest, p.Size, note)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	if a := mr.Agreed; a != nil {
		e.printf("agreed: sha256 %x at checkpoint size %d, published by %v (index %d)\n", a.Digest, a.Size, mr.AgreedBy, a.Index)
		return nil
	}
	e.printf("not agreed: the agreement in force asks %d mediator parties to publish the same report\n", ag.RulingQuorum)
	return nil
}
