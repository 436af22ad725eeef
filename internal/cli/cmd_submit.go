package cli

import (
	"flag"
	"strings"

	"github.com/mvm-exchange/mvm/client/mvmclient"
	mvmv1 "github.com/mvm-exchange/mvm/proto/mvm/v1"
)

// submitCmd submits a target package.
type submitCmd struct {
	fs                                       *flag.FlagSet // to tell --lat 0 from no --lat
	lat, lon, precision                      float64
	summary, group, priority, tlp, responder string
	id                                       string
	evidence                                 stringList
	receipt                                  string
	geo                                      geojsonFlags
	to                                       string
}

func (c *submitCmd) register(fs *flag.FlagSet) {
	c.fs = fs
	fs.Float64Var(&c.lat, "lat", 0, "latitude, WGS 84 degrees (required)")
	fs.Float64Var(&c.lon, "lon", 0, "longitude, WGS 84 degrees (required)")
	fs.Float64Var(&c.precision, "precision", 0, "precision in metres")
	fs.StringVar(&c.summary, "summary", "", "basis and summary")
	fs.StringVar(&c.group, "group", "", "suspected group")
	fs.StringVar(&c.priority, "priority", "medium", "low, medium, high or urgent")
	fs.StringVar(&c.tlp, "tlp", "amber", "TLP 2.0 marking: clear, green, amber, amber-strict, red")
	fs.StringVar(&c.responder, "responder", "", "responding party (default: the agreement's only responder)")
	fs.StringVar(&c.id, "id", "", "package id (default: random)")
	evidenceFlag(fs, &c.evidence, "")
	receiptFlag(fs, &c.receipt)
	c.geo.register(fs)
	fs.StringVar(&c.to, "to", "", "seal to these `PARTY[,PARTY]` only, besides those who read every package (your party, the responder, the mediators); default every party of the agreement")
}

func (c *submitCmd) run(e *env, args []string) error {
	if err := exactly(0, args, "no positional arguments"); err != nil {
		return err
	}
	if c.geo.path != "" && (flagSet(c.fs, "lat") || flagSet(c.fs, "lon") || c.id != "") {
		return usagef("--geojson replaces --lat, --lon and --id")
	}
	if c.geo.path == "" && (!flagSet(c.fs, "lat") || !flagSet(c.fs, "lon")) {
		return usagef("--lat and --lon are required")
	}
	pri, ok := mvmv1.Priority_value["PRIORITY_"+strings.ToUpper(c.priority)]
	if !ok {
		return usagef("--priority %q: want low, medium, high or urgent", c.priority)
	}
	t, ok := mvmv1.Tlp_value["TLP_"+strings.ToUpper(strings.ReplaceAll(c.tlp, "-", "_"))]
	if !ok {
		return usagef("--tlp %q: want clear, green, amber, amber-strict or red", c.tlp)
	}
	if c.to != "" {
		for _, p := range strings.Split(c.to, ",") {
			if p = strings.TrimSpace(p); p == "" {
				return usagef("--to %q: want PARTY[,PARTY]", c.to)
			}
			e.sealTo = append(e.sealTo, strings.TrimSpace(p))
		}
	}
	digests, err := c.evidence.digests()
	if err != nil {
		return err
	}
	h := mvmclient.NewHeader()
	if c.id != "" {
		h.MessageId = c.id
	}
	tp := &mvmv1.TargetPackage{
		Header:         h,
		Locations:      []*mvmv1.Location{{Lat: c.lat, Lon: c.lon, PrecisionM: c.precision}},
		SuspectedGroup: c.group, Summary: c.summary,
		Priority: mvmv1.Priority(pri), Tlp: mvmv1.Tlp(t),
		EvidenceSha256: digests, Responder: c.responder,
	}
	if c.geo.path != "" {
		return e.submitGeoJSON(c.receipt, c.geo, tp)
	}
	return e.appendAndPrint(c.receipt, tp, h.MessageId)
}
