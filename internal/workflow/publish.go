package workflow

import (
	"bytes"
	"slices"
	"time"

	"github.com/mvm-exchange/mvm/internal/agreement"
	mvmv1 "github.com/mvm-exchange/mvm/proto/mvm/v1"
)

// # Report publications
//
// A mediator publishes the monthly report it computed (a ReportPublication:
// the month, the SHA-256 of the report's JSON and the checkpoint it was
// computed at). The reducer judges what one entry alone can show: a
// mediator's, of a month that has ended by its receive time, at a
// checkpoint no larger than the log before it (the size is its index: a
// checkpoint of size n covers entries 0..n-1). Whether the root is the
// log's at that size takes the tree: the server checks it before it logs
// the entry and a reader checks it against a checkpoint it verified (a
// consistency proof); a publication whose root is not the log's is the
// signing mediator's fault and counts for nothing.
//
// A month's report is agreed like a ruling is final: once the agreement's
// ruling quorum of mediator parties published the same report (digest and
// checkpoint), each party's latest publication of the month counting. The
// first report to reach the quorum stays the agreed one; later
// publications of the month are listed, never counted.

// publish is the reducer's rule for a report publication (the role was
// checked by Apply).
func publish(rp *mvmv1.ReportPublication, in Input) error {
	start, err := time.ParseInLocation("2006-01", rp.Month, time.UTC)
	if err != nil {
		return refuse(ErrInvalid, "month %q: want YYYY-MM", rp.Month)
	}
	if end := start.AddDate(0, 1, 0); in.ReceivedAt.Before(end) {
		return refuse(ErrPrecondition, "month %s ends at %s, after this entry's receive time %s: publish its report once it is over",
			rp.Month, end.Format(time.RFC3339), in.ReceivedAt.UTC().Format(time.RFC3339))
	}
	if rp.CheckpointSize > in.Index {
		return refuse(ErrInvalid, "checkpoint size %d: the log held %d entries before this one, it never had that checkpoint",
			rp.CheckpointSize, in.Index)
	}
	return nil
}

// Publication is one logged report publication, accepted by the reducer.
type Publication struct {
	Index      uint64
	ReceivedAt time.Time
	Party      string // the mediator party that signed it
	Digest     []byte // SHA-256 of the report's JSON
	Size       uint64 // the checkpoint the report was computed at
	Root       []byte
}

// same is whether two publications name the same report at the same
// checkpoint.
func (p Publication) same(q Publication) bool {
	return bytes.Equal(p.Digest, q.Digest) && p.Size == q.Size && bytes.Equal(p.Root, q.Root)
}

// MonthReport is what the log's publications say of one month's report.
type MonthReport struct {
	Month        string
	Publications []Publication // in log order
	// Agreed is the publication that completed the quorum (its report is
	// the agreed one), nil while none has.
	Agreed *Publication
	// AgreedBy are the mediator parties whose publications made the
	// quorum, sorted.
	AgreedBy []string
	latest   map[string]Publication // by party
}

// Add counts p, a publication of m's month accepted by the reducer under
// ag, the agreement in force at it. Publications must come in log order.
func (m *MonthReport) Add(ag *agreement.Agreement, p Publication) {
	m.Publications = append(m.Publications, p)
	if m.Agreed != nil {
		return // agreed: final, as a ruling is
	}
	if m.latest == nil {
		m.latest = map[string]Publication{}
	}
	// Only each party's latest publication counts: a mediator that
	// published two reports cannot make either agreed with someone else.
	m.latest[p.Party] = p
	var by []string
	for party, q := range m.latest {
		if q.same(p) {
			by = append(by, party)
		}
	}
	if len(by) >= ag.RulingQuorum {
		slices.Sort(by)
		m.Agreed, m.AgreedBy = &p, by
	}
}
