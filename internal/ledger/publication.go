package ledger

import (
	"bytes"
	"fmt"

	"github.com/mvm-exchange/mvm/internal/tlog"
	"github.com/mvm-exchange/mvm/internal/workflow"
	mvmv1 "github.com/mvm-exchange/mvm/proto/mvm/v1"
)

// checkPublication is the server's check of a report publication that the
// reducer cannot make (it holds no tree): its checkpoint is one this log
// signed, the root of its first size entries, at or below the published
// head h. The reducer's own rule (size at most the entry's index) follows;
// an auditor and the readers of the publication check the root against a
// checkpoint they verified.
func (l *Ledger) checkPublication(h *Head, rp *mvmv1.ReportPublication) error {
	if rp.CheckpointSize > h.Size {
		return fmt.Errorf("%w: checkpoint size %d: the log has %d entries, it never had that checkpoint",
			workflow.ErrInvalid, rp.CheckpointSize, h.Size)
	}
	t, err := tlog.NewTree(rp.CheckpointSize, l.st)
	if err != nil {
		return err
	}
	root, err := t.Root()
	if err != nil {
		return err
	}
	if !bytes.Equal(root, rp.CheckpointRoot) {
		return fmt.Errorf("%w: checkpoint_root %x is not the log's root at size %d (%x): the report was not computed from this log",
			workflow.ErrInvalid, rp.CheckpointRoot, rp.CheckpointSize, root)
	}
	return nil
}
