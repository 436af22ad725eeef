package cli

import (
	"bufio"
	"context"
	"crypto/sha256"
	"flag"
	"io"
	"path/filepath"
	"time"

	"github.com/mvm-exchange/mvm/client/mvmclient"
	"github.com/mvm-exchange/mvm/internal/atomicfile"
	"github.com/mvm-exchange/mvm/internal/report"
)

// monthlyReportCmd writes the monthly report, computed on the client from
// the verified log (never from a server summary), as HTML and JSON.
type monthlyReportCmd struct {
	month   string
	out     string
	state   string
	publish bool
	keys    stringList
}

func (c *monthlyReportCmd) register(fs *flag.FlagSet) {
	fs.StringVar(&c.month, "month", "", "the `MONTH` to report, YYYY-MM in UTC (default: the current month)")
	fs.StringVar(&c.out, "out", ".", "write mvm-report-MONTH.html and .json into this `DIR`")
	stateFlag(fs, &c.state)
	fs.BoolVar(&c.publish, "publish", false, "then append a signed publication of the report (mediators): its JSON's SHA-256 and checkpoint; a month's report is agreed once the ruling quorum of mediators published the same (show-report)")
	keyFlag(fs, &c.keys)
}

func (c *monthlyReportCmd) run(e *env, args []string) error {
	if err := exactly(0, args, "no positional arguments"); err != nil {
		return err
	}
	month := report.MonthOf(time.Now())
	if c.month != "" {
		var err error
		if month, err = report.ParseMonth(c.month); err != nil {
			return usagef("--month: %v", err)
		}
	}
	if c.publish && time.Now().Before(month.End()) {
		// The reducer refuses it too (by the receive time): said before
		// the whole log is verified.
		return usagef("--publish: month %s is not over (it ends %s); publish its report once it is", month, month.End().Format(time.RFC3339))
	}
	if err := e.useKeys(c.keys); err != nil {
		return err
	}
	return e.withClient(func(ctx context.Context, cl *mvmclient.Client) error {
		r, err := e.computeReport(ctx, cl, c.state, nil, month)
		if err != nil {
			return err
		}
		base := filepath.Join(c.out, "mvm-report-"+month.String())
		sum := sha256.New() // of the file's bytes, as written
		if err := writeStream(base+".json", func(w io.Writer) error { return report.WriteJSON(io.MultiWriter(w, sum), r) }); err != nil {
			return err
		}
		if err := writeStream(base+".html", func(w io.Writer) error { return report.HTML(w, r) }); err != nil {
			return err
		}
		m := r.MonthFigures
		// The JSON's path first, as submit prints the package id first:
		// verify-report takes it.
		e.printf("%s.json\n%s.html\n", base, base)
		e.printf("month %s: %d packages submitted, %d in the table, %d breaches of obligations due in the month\n",
			month, m.PackagesSubmitted, len(r.Packages), breachTotal(m))
		e.printf("verified against checkpoint size %d: every entry audited\n", r.Checkpoint.Size)
		if !c.publish {
			return nil
		}
		return e.publishReport(cl, month.String(), sum.Sum(nil), r.Checkpoint)
	})
}

// writeStream writes a file through fn as writeOut does, buffered: a
// report of 100,000 packages is never one buffer in memory.
func writeStream(path string, fn func(io.Writer) error) error {
	return writeOut(path, func(f *atomicfile.File) error {
		w := bufio.NewWriter(f)
		if err := fn(w); err != nil {
			return err
		}
		return w.Flush()
	})
}

func breachTotal(f report.Figures) int {
	n := 0
	for _, b := range f.Breaches {
		n += b.Count
	}
	return n
}
