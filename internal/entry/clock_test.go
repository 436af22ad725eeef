package entry_test

import (
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/mvm-exchange/mvm/internal/agreement"
	"github.com/mvm-exchange/mvm/internal/entry"
	"github.com/mvm-exchange/mvm/internal/message"
	mvmv1 "github.com/mvm-exchange/mvm/proto/mvm/v1"
)

func authoredAt(t time.Time) *entry.Admitted {
	m := &mvmv1.Acknowledgement{Header: &mvmv1.Header{MessageId: "ack-1", AuthoredAt: timestamppb.New(t)}, PackageId: "pkg-1"}
	return &entry.Admitted{Type: message.TypeAcknowledgement, Payload: m}
}

func TestReceiveTime(t *testing.T) {
	prev := at
	for _, tt := range []struct {
		name  string
		clock time.Time
		want  time.Time
	}{
		{"clock after the previous entry", prev.Add(time.Second), prev.Add(time.Second)},
		{"clock at the previous entry", prev, prev},
		{"clock stepped back an hour: held", prev.Add(-time.Hour), prev},
		{"clock a nanosecond behind: held", prev.Add(-time.Nanosecond), prev},
	} {
		if got := entry.ReceiveTime(tt.clock, prev); !got.Equal(tt.want) {
			t.Errorf("%s: got %v, want %v", tt.name, got, tt.want)
		}
	}
}

// TestCheckReceived is the auditor's side of the receive-time rule; the
// server's side is ledger.TestClockStep.
func TestCheckReceived(t *testing.T) {
	ag := &agreement.Agreement{ClockSkew: 5 * time.Minute}
	prev := at
	for _, tt := range []struct {
		name     string
		adm      *entry.Admitted
		received time.Time
		want     string // "" passes
	}{
		{"authored at receipt", authoredAt(prev.Add(time.Minute)), prev.Add(time.Minute), ""},
		{"author 5m ahead", authoredAt(prev.Add(6 * time.Minute)), prev.Add(time.Minute), ""},
		{"author 5m behind", authoredAt(prev.Add(-4 * time.Minute)), prev.Add(time.Minute), ""},
		{"author 5m1s ahead", authoredAt(prev.Add(6*time.Minute + time.Second)), prev.Add(time.Minute), "ahead of the receive time"},
		{"author 5m1s behind, not held", authoredAt(prev.Add(-4*time.Minute - time.Second)), prev.Add(time.Minute), "not held"},
		{"author an hour behind, held at the previous receive time", authoredAt(prev.Add(-time.Hour)), prev, ""},
		{"author ahead of a held receive time", authoredAt(prev.Add(6 * time.Minute)), prev, "ahead of the receive time"},
		// Re-timed backwards by less than the skew: the author's clock
		// allows it, the order does not.
		{"a second before the previous entry", authoredAt(prev), prev.Add(-time.Second), "before the previous entry's"},
		{"agreement: only the order", nil, prev, ""},
		{"agreement before the previous entry", nil, prev.Add(-time.Nanosecond), "before the previous entry's"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := entry.CheckReceived(ag, tt.adm, tt.received, prev)
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("got %v, want it to pass", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Errorf("got %v, want an error containing %q", err, tt.want)
			}
		})
	}
}
