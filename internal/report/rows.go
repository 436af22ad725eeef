package report

import (
	"encoding/hex"
	"iter"
	"slices"
	"strings"
	"time"

	"github.com/mvm-exchange/mvm/internal/workflow"
	mvmv1 "github.com/mvm-exchange/mvm/proto/mvm/v1"
)

// rows is the package table: every package an entry received in the month
// concerns (all: every package), in log order, with its state as of asOf.
func (b *Builder) rows(asOf time.Time, all bool) []PackageRow {
	rows := []PackageRow{}
	for _, t := range b.order {
		if t.touched || all {
			rows = append(rows, t.row(asOf))
		}
	}
	return rows
}

// row is the package's line of the table as of asOf.
func (t *track) row(asOf time.Time) PackageRow {
	pkg := t.pkg()
	row := PackageRow{ID: t.id, Status: string(pkg.Status), Outcome: pkg.Outcome(), TLP: TLPName(t.tlp),
		Submitted: pkg.ReceivedAt, Acked: when(t.acked), Reported: when(t.reported), Ruled: when(t.ruled),
		Withdrawn: when(t.withdrawn), Salt: hex.EncodeToString(t.salt), Locations: []Location{}}
	for _, d := range pkg.Deadlines {
		if _, late := workflow.BreachOf(t.id, d, asOf); late {
			row.Breaches++
		}
	}
	row.Locations = append(row.Locations, t.locations...)
	return row
}

func when(i instant) *time.Time {
	if i == 0 {
		return nil
	}
	t := i.time()
	return &t
}

// TLPName is the TLP 2.0 label of a marking ("amber+strict"), "clear" when
// unspecified.
func TLPName(t mvmv1.Tlp) string {
	if t == mvmv1.Tlp_TLP_UNSPECIFIED {
		return "clear"
	}
	return strings.ReplaceAll(strings.ToLower(strings.TrimPrefix(t.String(), "TLP_")), "_", "+")
}

// percentile is the nearest-rank p-th percentile of ds, 0 if none.
func percentile(ds []time.Duration, p int) Secs {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	rank := (p*len(s) + 99) / 100 // ceil(p·n/100)
	return secs(s[max(rank, 1)-1])
}

// AllRows is every package of the entries added, in log order, with its
// state as of the last entry: for exports of the whole log, whose Builder
// is made with [Everything].
func (b *Builder) AllRows() []PackageRow { return b.rows(b.last, true) }

// EachRow is [Builder.AllRows] one row at a time: an export of 100,000
// packages never holds the table.
func (b *Builder) EachRow() iter.Seq[PackageRow] {
	return func(yield func(PackageRow) bool) {
		for _, t := range b.order {
			if !yield(t.row(b.last)) {
				return
			}
		}
	}
}

// Everything is a month that ends after any log: a Builder of it takes
// every entry.
var Everything = Month{time.Date(9999, 12, 1, 0, 0, 0, 0, time.UTC)}
