package cli

import (
	"context"

	"github.com/mvm-exchange/mvm/client/mvmclient"
	"github.com/mvm-exchange/mvm/internal/atomicfile"
	"github.com/mvm-exchange/mvm/internal/report"
)

// exportFormat writes the verified log as a STIX 2.1 bundle or a GeoJSON
// FeatureCollection (export --format stix|geojson): computed from the
// entries verifiedEntries hands over, never from a server summary.
func (e *env) exportFormat(ctx context.Context, c *mvmclient.Client, format, out string) error {
	var add func(report.Entry) error
	var encode func(report.Checkpoint) ([]byte, error)
	switch format {
	case "stix":
		s := report.NewSTIX()
		add, encode = s.Add, s.Bundle
	case "geojson":
		b := report.NewBuilder(report.Everything)
		add = b.Add
		encode = func(report.Checkpoint) ([]byte, error) { return report.GeoJSON(b.AllRows()) }
	default:
		return usagef("--format %q: want bundle, stix or geojson", format)
	}
	ver, err := e.verifiedEntries(ctx, c, "", nil, add)
	if err != nil {
		return err
	}
	data, err := encode(reportCheckpoint(ver))
	if err != nil {
		return err
	}
	if err := atomicfile.WriteFile(out, data, 0o600); err != nil {
		return err
	}
	e.printf("exported the log as %s to %s: verified against checkpoint size %d, every entry audited\n", format, out, ver.Checkpoint.Size)
	return nil
}
