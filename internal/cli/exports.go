package cli

import (
	"bufio"
	"context"

	"github.com/mvm-exchange/mvm/client/mvmclient"
	"github.com/mvm-exchange/mvm/internal/atomicfile"
	"github.com/mvm-exchange/mvm/internal/report"
)

// exportFormat writes the verified log as a STIX 2.1 bundle or a GeoJSON
// FeatureCollection (export --format stix|geojson): computed from the
// entries verifiedEntries hands over, never from a server summary, with
// every sealed body the caller's key opens (--key; what it cannot open is
// exported as its header and said in one line on stderr). The
// STIX objects are written as the entries come, into a file that takes its
// name only if the whole log verified (writeOut).
func exportFormat(format string) func(ctx context.Context, c *mvmclient.Client, out string, e *env) error {
	return func(ctx context.Context, c *mvmclient.Client, out string, e *env) error {
		if format != "stix" && format != "geojson" {
			return usagef("--format %q: want bundle, stix or geojson", format)
		}
		var size uint64
		open := e.newBodyOpener(c)
		err := writeOut(out, func(f *atomicfile.File) error {
			w := bufio.NewWriter(f)
			var add func(report.Entry) error
			var finish func(report.Checkpoint) error
			switch format {
			case "stix":
				s := report.NewSTIX(w)
				add, finish = s.Add, s.Bundle
			case "geojson":
				b := report.NewBuilder(report.Everything)
				add = b.Add
				finish = func(report.Checkpoint) error { return report.WriteGeoJSON(w, b.EachRow()) }
			}
			ver, err := e.verifiedEntries(ctx, c, "", nil, open, add)
			if err != nil {
				return err
			}
			if err := finish(reportCheckpoint(ver)); err != nil {
				return err
			}
			size = ver.Checkpoint.Size
			return w.Flush()
		})
		if err != nil {
			return err
		}
		e.printSealedSummary(open)
		e.printf("exported the log as %s to %s: verified against checkpoint size %d, every entry audited\n", format, out, size)
		return nil
	}
}
