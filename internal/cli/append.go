package cli

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/mod/sumdb/note"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/mvm-exchange/mvm/client/mvmclient"
	"github.com/mvm-exchange/mvm/internal/atomicfile"
	"github.com/mvm-exchange/mvm/internal/entry"
	"github.com/mvm-exchange/mvm/internal/tlog"
	"github.com/mvm-exchange/mvm/internal/workflow"
	mvmv1 "github.com/mvm-exchange/mvm/proto/mvm/v1"
)

func init() {
	var lat, lon, precision float64
	var summary, group, priority, tlp, responder, id string
	var evidence stringList
	var geo geojsonFlags
	register(&command{
		name: "submit", args: "--lat DEG --lon DEG [--summary TEXT]",
		summary: "submit a target package (submitter); prints the package id first",
		flags: func(fs *flag.FlagSet) {
			fs.Float64Var(&lat, "lat", 0, "latitude, WGS 84 degrees (required)")
			fs.Float64Var(&lon, "lon", 0, "longitude, WGS 84 degrees (required)")
			fs.Float64Var(&precision, "precision", 0, "precision in metres")
			fs.StringVar(&summary, "summary", "", "basis and summary")
			fs.StringVar(&group, "group", "", "suspected group")
			fs.StringVar(&priority, "priority", "medium", "low, medium, high or urgent")
			fs.StringVar(&tlp, "tlp", "amber", "TLP 2.0 marking: clear, green, amber, amber-strict, red")
			fs.StringVar(&responder, "responder", "", "responding party (default: the agreement's only responder)")
			fs.StringVar(&id, "id", "", "package id (default: random)")
			fs.Var(&evidence, "evidence", "`SHA256` hex digest of an evidence file (repeatable)")
			receiptFlag(fs)
			geo.register(fs)
		},
		run: func(e *env, fs *flag.FlagSet, args []string) error {
			if err := exactly(0, args, "no positional arguments"); err != nil {
				return err
			}
			if geo.path != "" && (flagSet(fs, "lat") || flagSet(fs, "lon") || id != "") {
				return usagef("--geojson replaces --lat, --lon and --id")
			}
			if geo.path == "" && (!flagSet(fs, "lat") || !flagSet(fs, "lon")) {
				return usagef("--lat and --lon are required")
			}
			pri, ok := mvmv1.Priority_value["PRIORITY_"+strings.ToUpper(priority)]
			if !ok {
				return usagef("--priority %q: want low, medium, high or urgent", priority)
			}
			t, ok := mvmv1.Tlp_value["TLP_"+strings.ToUpper(strings.ReplaceAll(tlp, "-", "_"))]
			if !ok {
				return usagef("--tlp %q: want clear, green, amber, amber-strict or red", tlp)
			}
			digests, err := evidence.digests()
			if err != nil {
				return err
			}
			h := mvmclient.NewHeader()
			if id != "" {
				h.MessageId = id
			}
			tp := &mvmv1.TargetPackage{
				Header:         h,
				Locations:      []*mvmv1.Location{{Lat: lat, Lon: lon, PrecisionM: precision}},
				SuspectedGroup: group, Summary: summary,
				Priority: mvmv1.Priority(pri), Tlp: mvmv1.Tlp(t),
				EvidenceSha256: digests, Responder: responder,
			}
			if geo.path != "" {
				return e.submitGeoJSON(fs, geo, tp)
			}
			return e.appendAndPrint(fs, tp, h.MessageId)
		},
	})

	var note string
	register(&command{
		name: "ack", args: "ID [--note TEXT]", summary: "acknowledge a package (responder)",
		flags: func(fs *flag.FlagSet) {
			fs.StringVar(&note, "note", "", "optional note")
			receiptFlag(fs)
		},
		run: func(e *env, fs *flag.FlagSet, args []string) error {
			if err := exactly(1, args, "the package ID"); err != nil {
				return err
			}
			return e.appendAndPrint(fs, &mvmv1.Acknowledgement{Header: mvmclient.NewHeader(), PackageId: args[0], Note: note}, args[0])
		},
	})

	var outcome, reportNote, actionTime string
	var arrested, killed, injured, weapons uint
	var reportEvidence stringList
	register(&command{
		name: "report", args: "ID --outcome raid|destroyed|arrests|not-found|no-access|declined [--note TEXT]",
		summary: "report the action taken on a package (responder)",
		flags: func(fs *flag.FlagSet) {
			fs.StringVar(&outcome, "outcome", "", "raid, destroyed, arrests, not-found, no-access or declined (required)")
			fs.StringVar(&reportNote, "note", "", "note (required when declined)")
			fs.StringVar(&actionTime, "time", "", "when the action took place, a `TIME`: RFC 3339, or a date meaning 00:00 UTC (default now)")
			fs.UintVar(&arrested, "arrested", 0, "people arrested")
			fs.UintVar(&killed, "killed", 0, "people killed")
			fs.UintVar(&injured, "injured", 0, "people injured")
			fs.UintVar(&weapons, "weapons", 0, "weapons seized")
			fs.Var(&reportEvidence, "evidence", "`SHA256` hex digest of an evidence file (repeatable)")
			receiptFlag(fs)
		},
		run: func(e *env, fs *flag.FlagSet, args []string) error {
			if err := exactly(1, args, "the package ID"); err != nil {
				return err
			}
			if outcome == "" {
				return usagef("--outcome is required")
			}
			o, err := workflow.ParseOutcome(outcome)
			if err != nil {
				return usagef("--outcome: %v", err)
			}
			at, err := parseTime(actionTime)
			if err != nil {
				return usagef("--time: %v", err)
			}
			digests, err := reportEvidence.digests()
			if err != nil {
				return err
			}
			r := &mvmv1.ActionReport{Header: mvmclient.NewHeader(), PackageId: args[0], Outcome: o, Note: reportNote,
				ActionTime: timestamppb.New(at), EvidenceSha256: digests,
				Counts: &mvmv1.ActionCounts{Arrested: uint32(arrested), Killed: uint32(killed), Injured: uint32(injured), WeaponsSeized: uint32(weapons)}}
			return e.appendAndPrint(fs, r, args[0])
		},
	})
}

func flagSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}

func receiptFlag(fs *flag.FlagSet) {
	fs.String("receipt", "", "write the receipt (C2SP tlog-proof) to `FILE` (mode 0600)")
}

// appendAndPrint signs and appends m, verifies the receipt against the
// pinned log key when CERTS/log.vkey exists, writes it if asked, and
// prints the package id then the index.
func (e *env) appendAndPrint(fs *flag.FlagSet, m proto.Message, packageID string) error {
	if err := checkMessage(m); err != nil {
		return err
	}
	c, err := e.dial()
	if err != nil {
		return err
	}
	defer c.Close()
	env, err := c.Seal(m)
	if err != nil {
		return err
	}
	return e.appendSealed(fs, c, env, packageID, workflow.ShortType(string(proto.MessageName(m))))
}

// appendSealed appends signed bytes and checks the receipt against them:
// the receipt's leaf must hold exactly the envelope sent, at the index the
// receipt proves, under a checkpoint signed by the pinned log key
// (CERTS/log.vkey). It prints the package id, then the verified index.
func (e *env) appendSealed(fs *flag.FlagSet, c *mvmclient.Client, env []byte, packageID, what string) error {
	v, err := e.logVerifier("")
	if errors.Is(err, os.ErrNotExist) {
		v = nil // no pinned key: the receipt is saved but not checked
	} else if err != nil {
		return err
	}
	// Open the receipt file first: failing after the append would log the
	// message and hide its id.
	var receipt *atomicfile.File
	if f := fs.Lookup("receipt"); f != nil && f.Value.String() != "" {
		if receipt, err = atomicfile.Create(f.Value.String()); err != nil {
			return fmt.Errorf("--receipt: %w", err)
		}
		defer receipt.Abort()
	}
	ctx, cancel := e.context()
	defer cancel()
	resp, err := c.AppendSealed(ctx, env)
	if err != nil {
		return err
	}
	r := resp.Receipt
	index, state := r.Index, " (receipt not verified: no pinned log key)"
	if v != nil {
		rec, err := tlog.VerifyReceipt(r.TlogProof, v.Name(), v)
		if err != nil {
			return fmt.Errorf("the server's receipt does not verify: %w", err)
		}
		leaf, err := entry.DecodeLeaf(rec.Leaf)
		if err != nil || leaf.Index != rec.Index || !bytes.Equal(leaf.Envelope, env) {
			return fmt.Errorf("the server's receipt (index %d) is not for the envelope sent", rec.Index)
		}
		index, state = rec.Index, " (receipt verified)"
	}
	e.printf("%s\n", packageID)
	if receipt != nil {
		if _, err := receipt.Write(r.TlogProof); err != nil {
			return err
		}
		if err := receipt.Commit(); err != nil {
			return err
		}
	}
	dup := ""
	if resp.Duplicate {
		dup = " (already logged)"
	}
	e.printf("logged %s at index %d, %s%s%s\n", what, index, r.ReceivedAt.AsTime().Format("2006-01-02T15:04:05Z07:00"), dup, state)
	return nil
}

// logVerifier loads the pinned log key: path, or CERTS/log.vkey.
func (e *env) logVerifier(path string) (note.Verifier, error) {
	if path == "" {
		path = filepath.Join(e.certs, "log.vkey")
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("pinned log key: %w (pass --certs DIR or --log-key FILE)", err)
	}
	v, err := note.NewVerifier(strings.TrimSpace(string(b)))
	if err != nil {
		return nil, fmt.Errorf("log key %s: %w", path, err)
	}
	return v, nil
}

// stringList is a repeatable string flag.
type stringList []string

func (s *stringList) String() string     { return strings.Join(*s, ",") }
func (s *stringList) Set(v string) error { *s = append(*s, v); return nil }

func (s stringList) digests() ([][]byte, error) {
	var out [][]byte
	for _, h := range s {
		b, err := hex.DecodeString(h)
		if err != nil || len(b) != sha256.Size {
			return nil, usagef("--evidence %q: want a 64-digit hex SHA-256 digest", h)
		}
		out = append(out, b)
	}
	return out, nil
}
