package cli

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/mvm-exchange/mvm/internal/message"
	"github.com/mvm-exchange/mvm/internal/workflow"
	mvmv1 "github.com/mvm-exchange/mvm/proto/mvm/v1"
)

// A message is checked on the client before it is signed, with the very
// rules the server applies (message.Validate, so the limits are the
// package's constants, not copies), and a refusal names the flag the user
// typed instead of the protobuf field.

// fieldFlags maps message's field names to the flags that set them. A
// field not listed is set by the flag of its own name (note → --note).
var fieldFlags = map[string]string{
	"header.message_id":        "--id",
	"locations[0].lat":         "--lat",
	"locations[0].lon":         "--lon",
	"locations[0].precision_m": "--precision",
	"suspected_group":          "--group",
	"evidence_sha256":          "--evidence",
	"action_time":              "--time",
	"counts.arrested":          "--arrested",
	"counts.killed":            "--killed",
	"counts.injured":           "--injured",
	"counts.weapons_seized":    "--weapons",
	"request_id":               "--request",
	"finding_id":               "--finding",
	"dispute_id":               "--dispute",
	"package_id":               "the package ID",
}

// flagOf names the flag that sets a message field.
func flagOf(field string) string {
	if i := strings.IndexByte(field, '['); i > 0 && !strings.HasPrefix(field, "locations") {
		field = field[:i] // evidence_sha256[3] is the fourth --evidence
	}
	if f, ok := fieldFlags[field]; ok {
		return f
	}
	return "--" + strings.ReplaceAll(field, "_", "-")
}

// checkMessage validates m as the server will, as a command line mistake.
func checkMessage(m proto.Message) error {
	err := message.Validate(m)
	var fe *message.FieldError
	if !errors.As(err, &fe) {
		return err
	}
	name := flagOf(fe.Field)
	if r, ok := m.(*mvmv1.ActionReport); ok && fe.Field == "note" && r.Outcome == mvmv1.Outcome_OUTCOME_DECLINED && r.Note == "" {
		return usagef("--note is required when --outcome is declined")
	}
	if fe.Reason == "is required" {
		return usagef("%s is required", name)
	}
	return usagef("%s: %s", name, fe.Reason)
}

// checkStatus refuses a status the workflow does not have, listing those
// it has.
func checkStatus(s string) error {
	if s == "" {
		return nil
	}
	var names []string
	for _, st := range workflow.Statuses {
		if string(st) == s {
			return nil
		}
		names = append(names, string(st))
	}
	return usagef("--status %q is not a status; want one of %s", s, strings.Join(names, ", "))
}

// dateLayout is a calendar date, meaning 00:00 UTC that day.
const dateLayout = "2006-01-02"

// parseTime reads a time flag: RFC 3339, or a date (00:00 UTC); "" is now.
func parseTime(s string) (time.Time, error) {
	if s == "" {
		return time.Now(), nil
	}
	if t, err := time.Parse(dateLayout, s); err == nil {
		return t, nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%q: want a date (2026-12-31, meaning 00:00 UTC) or an RFC 3339 time (2026-12-31T18:00:00Z)", s)
	}
	return t, nil
}
