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
// entries verifiedEntries hands over, never from a server summary. The
// STIX objects are written as the entries come, into a file that appears
// only if the whole log verified (internal/atomicfile).
func (e *env) exportFormat(ctx context.Context, c *mvmclient.Client, format, out string) error {
	if format != "stix" && format != "geojson" {
		return usagef("--format %q: want bundle, stix or geojson", format)
	}
	f, err := atomicfile.Create(out)
	if err != nil {
		return err
	}
	defer f.Abort()
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
		finish = func(report.Checkpoint) error {
			data, err := report.GeoJSON(b.AllRows())
			if err == nil {
				_, err = w.Write(data)
			}
			return err
		}
	}
	ver, err := e.verifiedEntries(ctx, c, "", nil, add)
	if err != nil {
		return err
	}
	if err := finish(reportCheckpoint(ver)); err != nil {
		return err
	}
	if err := w.Flush(); err != nil {
		return err
	}
	if err := f.Commit(); err != nil {
		return err
	}
	e.printf("exported the log as %s to %s: verified against checkpoint size %d, every entry audited\n", format, out, ver.Checkpoint.Size)
	return nil
}
