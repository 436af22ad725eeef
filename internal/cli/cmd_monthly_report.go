package cli

import (
	"bufio"
	"context"
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
	month string
	out   string
	state string
}

func (c *monthlyReportCmd) register(fs *flag.FlagSet) {
	fs.StringVar(&c.month, "month", "", "the `MONTH` to report, YYYY-MM in UTC (default: the current month)")
	fs.StringVar(&c.out, "out", ".", "write mvm-report-MONTH.html and .json into this `DIR`")
	stateFlag(fs, &c.state)
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
	return e.withClient(func(ctx context.Context, cl *mvmclient.Client) error {
		r, err := e.computeReport(ctx, cl, c.state, nil, month)
		if err != nil {
			return err
		}
		base := filepath.Join(c.out, "mvm-report-"+month.String())
		if err := writeStream(base+".json", func(w io.Writer) error { return report.WriteJSON(w, r) }); err != nil {
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
		return nil
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
