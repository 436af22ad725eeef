package metrics

import (
	"io"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// The clock gauge reads the ledger at each scrape.
func TestClockBehindGauge(t *testing.T) {
	m := New()
	behind := time.Duration(0)
	m.ClockBehind(func() time.Duration { return behind })
	scrape := func() string {
		rec := httptest.NewRecorder()
		m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
		b, _ := io.ReadAll(rec.Result().Body)
		return string(b)
	}
	for _, tc := range []struct {
		behind time.Duration
		want   string
	}{
		{0, ClockBehind + " 0\n"},
		{90 * time.Minute, ClockBehind + " 5400\n"},
	} {
		behind = tc.behind
		if got := scrape(); !strings.Contains(got, tc.want) {
			t.Errorf("behind %v: scrape has no line %q", tc.behind, tc.want)
		}
	}
}
