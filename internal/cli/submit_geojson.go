package cli

import (
	"flag"
	"fmt"
	"os"

	"google.golang.org/protobuf/proto"

	"github.com/mvm-exchange/mvm/client/mvmclient"
	"github.com/mvm-exchange/mvm/internal/report"
	mvmv1 "github.com/mvm-exchange/mvm/proto/mvm/v1"
)

// geojsonFlags are submit's flags for submitting from a GeoJSON file.
type geojsonFlags struct {
	path        string
	onePackage  bool
	skipInvalid bool
}

func (g *geojsonFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&g.path, "geojson", "", "submit the Points of this GeoJSON `FILE` (RFC 7946), one package per Feature, instead of --lat/--lon")
	fs.BoolVar(&g.onePackage, "one-package", false, "with --geojson: one package holding every location")
	fs.BoolVar(&g.skipInvalid, "skip-invalid", false, "with --geojson: submit the valid Features and report each invalid one (default: submit nothing if one is invalid)")
}

// submitGeoJSON submits the locations of a GeoJSON file, each package made
// from template (its header renewed, the Feature's location and summary
// set). Every Feature is checked before anything is sent: one that is
// invalid stops the whole file, naming its index and why, unless
// --skip-invalid.
func (e *env) submitGeoJSON(receipt string, g geojsonFlags, template *mvmv1.TargetPackage) error {
	raw, err := os.ReadFile(g.path)
	if err != nil {
		return fmt.Errorf("--geojson: %w", err)
	}
	locs, bad, err := report.ParseGeoJSON(raw)
	if err != nil {
		return fmt.Errorf("--geojson %s: %w", g.path, err)
	}
	if len(bad) > 0 && !g.skipInvalid {
		for _, b := range bad[1:] {
			fmt.Fprintf(e.stderr, "invalid: %v\n", b)
		}
		return fmt.Errorf("--geojson %s: %w; nothing submitted (--skip-invalid submits the valid ones)", g.path, bad[0])
	}
	for _, b := range bad {
		e.printf("skipped %v\n", b)
	}
	if len(locs) == 0 {
		return fmt.Errorf("--geojson %s: no valid Feature, nothing submitted", g.path)
	}
	var pkgs []*mvmv1.TargetPackage
	for _, l := range locs {
		if g.onePackage && len(pkgs) == 1 {
			pkgs[0].Locations = append(pkgs[0].Locations, l.Location)
			continue
		}
		tp := proto.Clone(template).(*mvmv1.TargetPackage)
		tp.Header = mvmclient.NewHeader()
		tp.Locations = []*mvmv1.Location{l.Location}
		if l.Summary != "" {
			tp.Summary = l.Summary
		}
		pkgs = append(pkgs, tp)
	}
	// The server's rules for each package, all before the first is sent.
	for i, tp := range pkgs {
		if err := checkMessage(tp); err != nil {
			return fmt.Errorf("--geojson %s: package %d of %d: %w; nothing submitted", g.path, i+1, len(pkgs), err)
		}
	}
	for _, tp := range pkgs {
		if err := e.appendAndPrint(receipt, tp, tp.Header.MessageId); err != nil {
			return err
		}
	}
	return nil
}
