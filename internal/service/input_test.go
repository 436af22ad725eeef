package service_test

import (
	"bytes"
	"math"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/mvm-exchange/mvm/internal/envelope"
	"github.com/mvm-exchange/mvm/internal/service"
	mvmv1 "github.com/mvm-exchange/mvm/proto/mvm/v1"
)

// signRaw builds an envelope of payloadType over payload, signed by the
// submitter, without going through proto.Marshal of a typed message.
func (f *fixture) signRaw(t *testing.T, payloadType string, payload []byte) []byte {
	t.Helper()
	sig, err := envelope.Sign(payloadType, payload, f.pk().Signer())
	if err != nil {
		t.Fatal(err)
	}
	b, err := proto.Marshal(&mvmv1.Envelope{PayloadType: payloadType, Payload: payload, Signatures: []*mvmv1.Signature{sig}})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// unknownField appends field 99 (bytes) to a serialized message.
func unknownField(b []byte) []byte {
	b = protowire.AppendTag(b, 99, protowire.BytesType)
	return protowire.AppendBytes(b, []byte("surprise"))
}

func mustMarshal(t *testing.T, m proto.Message) []byte {
	t.Helper()
	b, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// ---------------------------------------------------------------------------
// 5. Tampered and malformed envelopes.

func TestMalformedEnvelopes(t *testing.T) {
	f := newFixture(t)
	pk := f.pk()
	tp := targetPackage()
	tpType := envelope.TypeOf(tp)
	sealed, err := pk.Seal(tp)
	if err != nil {
		t.Fatal(err)
	}
	payload := func() []byte {
		env := &mvmv1.Envelope{}
		if err := proto.Unmarshal(sealed, env); err != nil {
			t.Fatal(err)
		}
		return env.Payload
	}()
	summaryAt := bytes.Index(payload, []byte(tp.Summary))
	if summaryAt < 0 {
		t.Fatal("summary not found in payload")
	}
	flipPayload := func(i int, mask byte) func(t *testing.T) []byte {
		return func(t *testing.T) []byte {
			return editEnvelope(t, sealed, func(e *mvmv1.Envelope) { e.Payload[i] ^= mask })
		}
	}
	withNestedUnknown := func() []byte {
		m := targetPackage()
		// Serialize the first location with an unknown field, then splice
		// it back as field 2 (locations).
		l := unknownField(mustMarshal(t, m.Locations[0]))
		m.Locations = nil
		b := mustMarshal(t, m)
		b = protowire.AppendTag(b, 2, protowire.BytesType)
		return protowire.AppendBytes(b, l)
	}

	for _, tc := range []struct {
		name   string
		build  func(t *testing.T) []byte
		code   codes.Code
		substr string
	}{
		// A letter of the summary changes case: the payload still decodes
		// and validates, so only the signature can catch it.
		{"flipped byte in summary", flipPayload(summaryAt+2, 0x20), codes.InvalidArgument, "signature"},
		{"flipped first payload byte", flipPayload(0, 0x01), codes.InvalidArgument, ""},
		{"flipped last payload byte", flipPayload(len(payload)-1, 0x01), codes.InvalidArgument, "signature"},
		{"flipped signature byte", func(t *testing.T) []byte {
			return editEnvelope(t, sealed, func(e *mvmv1.Envelope) { e.Signatures[0].Sig[5] ^= 0x01 })
		}, codes.InvalidArgument, "signature"},
		{"payload type changed", func(t *testing.T) []byte {
			return editEnvelope(t, sealed, func(e *mvmv1.Envelope) { e.PayloadType = "mvm.v1.Withdrawal" })
		}, codes.InvalidArgument, ""},
		{"empty envelope", func(*testing.T) []byte { return nil }, codes.InvalidArgument, "envelope"},
		{"garbage", func(*testing.T) []byte { return []byte("this is not an envelope \xff\xff\xff") }, codes.InvalidArgument, "malformed"},
		{"oversized", func(*testing.T) []byte { return bytes.Repeat([]byte{0x0a}, service.MaxEnvelopeBytes+1) }, codes.ResourceExhausted, ""},
		{"no signature", func(t *testing.T) []byte {
			return editEnvelope(t, sealed, func(e *mvmv1.Envelope) { e.Signatures = nil })
		}, codes.InvalidArgument, "signature"},
		{"unknown payload type", func(t *testing.T) []byte {
			return f.signRaw(t, "mvm.v1.Nonsense", mustMarshal(t, targetPackage()))
		}, codes.InvalidArgument, "mvm.v1.Nonsense"},
		{"cosignature is not an appendable payload", func(t *testing.T) []byte {
			return f.signRaw(t, "mvm.v1.Cosignature", mustMarshal(t, targetPackage()))
		}, codes.InvalidArgument, ""},
		{"unknown field in payload", func(t *testing.T) []byte {
			return f.signRaw(t, tpType, unknownField(mustMarshal(t, targetPackage())))
		}, codes.InvalidArgument, "understand"},
		{"unknown field in a location", func(t *testing.T) []byte {
			return f.signRaw(t, tpType, withNestedUnknown())
		}, codes.InvalidArgument, "locations"},
		{"summary not UTF-8", func(t *testing.T) []byte {
			// proto.Marshal refuses invalid UTF-8: splice the field by hand.
			b := mustMarshal(t, targetPackage())
			b = protowire.AppendTag(b, 4, protowire.BytesType)
			return f.signRaw(t, tpType, protowire.AppendBytes(b, []byte("bad \xff")))
		}, codes.InvalidArgument, "UTF-8"},
		{"unknown field in envelope", func(t *testing.T) []byte {
			return unknownField(append([]byte(nil), sealed...))
		}, codes.InvalidArgument, "unknown"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			raw := tc.build(t)
			before := f.size(t)
			_, err := f.pk().API.Append(ctxT(t), &mvmv1.AppendRequest{Envelope: raw})
			wantCode(t, err, tc.code, tc.substr)
			f.wantSize(t, before)
		})
	}

	// Every single-bit change anywhere in the payload is refused.
	t.Run("every payload byte", func(t *testing.T) {
		before := f.size(t)
		for i := range payload {
			raw := editEnvelope(t, sealed, func(e *mvmv1.Envelope) { e.Payload[i] ^= 0x04 })
			_, err := pk.API.Append(ctxT(t), &mvmv1.AppendRequest{Envelope: raw})
			if got := status.Code(err); got != codes.InvalidArgument {
				t.Fatalf("byte %d flipped: code got %v (%v), want %v", i, got, err, codes.InvalidArgument)
			}
		}
		f.wantSize(t, before)
		// The untouched envelope is accepted: the refusals were the flips.
		if _, err := pk.AppendSealed(ctxT(t), sealed); err != nil {
			t.Fatalf("untouched envelope: %v", err)
		}
		f.wantSize(t, before+1)
	})
}

// ---------------------------------------------------------------------------
// 6. Invalid and boundary input.

func TestInputValidation(t *testing.T) {
	f := newFixture(t)
	acked := f.packageIn(t, "acknowledged")
	locs := func(n int) []*mvmv1.Location {
		out := make([]*mvmv1.Location, n)
		for i := range out {
			out[i] = loc(30+float64(i)/100, 70)
		}
		return out
	}
	tpWith := func(edit func(*mvmv1.TargetPackage)) func() proto.Message {
		return func() proto.Message {
			tp := targetPackage()
			edit(tp)
			return tp
		}
	}
	reportWith := func(edit func(*mvmv1.ActionReport)) func() proto.Message {
		return func() proto.Message {
			r := report(acked, mvmv1.Outcome_OUTCOME_NOT_FOUND)
			edit(r)
			return r
		}
	}
	for _, tc := range []struct {
		name  string
		build func() proto.Message
		field string // "" = valid
	}{
		{"lat 91", tpWith(func(p *mvmv1.TargetPackage) { p.Locations[0].Lat = 91 }), "locations[0].lat"},
		{"lat -90.0001", tpWith(func(p *mvmv1.TargetPackage) { p.Locations[0].Lat = -90.0001 }), "locations[0].lat"},
		{"lon 180.5", tpWith(func(p *mvmv1.TargetPackage) { p.Locations[0].Lon = 180.5 }), "locations[0].lon"},
		{"lat NaN", tpWith(func(p *mvmv1.TargetPackage) { p.Locations[0].Lat = math.NaN() }), "locations[0].lat"},
		{"lon +Inf", tpWith(func(p *mvmv1.TargetPackage) { p.Locations[0].Lon = math.Inf(1) }), "locations[0].lon"},
		{"lat -Inf in third location", tpWith(func(p *mvmv1.TargetPackage) { p.Locations = locs(3); p.Locations[2].Lat = math.Inf(-1) }), "locations[2].lat"},
		{"precision NaN", tpWith(func(p *mvmv1.TargetPackage) { p.Locations[0].PrecisionM = math.NaN() }), "locations[0].precision_m"},
		{"negative precision", tpWith(func(p *mvmv1.TargetPackage) { p.Locations[0].PrecisionM = -1 }), "locations[0].precision_m"},
		{"zero locations", tpWith(func(p *mvmv1.TargetPackage) { p.Locations = nil }), "locations"},
		{"17 locations", tpWith(func(p *mvmv1.TargetPackage) { p.Locations = locs(17) }), "locations"},
		{"summary of 4097 bytes", tpWith(func(p *mvmv1.TargetPackage) { p.Summary = strings.Repeat("s", 4097) }), "summary"},
		{"empty message id", tpWith(func(p *mvmv1.TargetPackage) { p.Header.MessageId = "" }), "header.message_id"},
		{"message id with a space", tpWith(func(p *mvmv1.TargetPackage) { p.Header.MessageId = "has space" }), "header.message_id"},
		{"message id of 65 characters", tpWith(func(p *mvmv1.TargetPackage) { p.Header.MessageId = strings.Repeat("a", 65) }), "header.message_id"},
		{"no header", tpWith(func(p *mvmv1.TargetPackage) { p.Header = nil }), "header"},
		{"no authored_at", tpWith(func(p *mvmv1.TargetPackage) { p.Header.AuthoredAt = nil }), "header.authored_at"},
		{"evidence digest of 31 bytes", tpWith(func(p *mvmv1.TargetPackage) { p.EvidenceSha256 = [][]byte{make([]byte, 31)} }), "evidence_sha256[0]"},
		{"unknown priority", tpWith(func(p *mvmv1.TargetPackage) { p.Priority = 42 }), "priority"},
		{"report outcome unspecified", reportWith(func(r *mvmv1.ActionReport) { r.Outcome = mvmv1.Outcome_OUTCOME_UNSPECIFIED }), "outcome"},
		{"report declined without note", reportWith(func(r *mvmv1.ActionReport) { r.Outcome = mvmv1.Outcome_OUTCOME_DECLINED; r.Note = "" }), "note"},
		{"report on bad package id", reportWith(func(r *mvmv1.ActionReport) { r.PackageId = "no/slashes" }), "package_id"},
		{"report with 100001 arrests", reportWith(func(r *mvmv1.ActionReport) { r.Counts.Arrested = 100_001 }), "counts.arrested"},

		// Boundaries that are valid.
		{"lat 90", tpWith(func(p *mvmv1.TargetPackage) { p.Locations[0].Lat = 90 }), ""},
		{"lat -90", tpWith(func(p *mvmv1.TargetPackage) { p.Locations[0].Lat = -90 }), ""},
		{"lon -180", tpWith(func(p *mvmv1.TargetPackage) { p.Locations[0].Lon = -180 }), ""},
		{"lon 180", tpWith(func(p *mvmv1.TargetPackage) { p.Locations[0].Lon = 180 }), ""},
		{"16 locations", tpWith(func(p *mvmv1.TargetPackage) { p.Locations = locs(16) }), ""},
		{"summary of 4096 bytes", tpWith(func(p *mvmv1.TargetPackage) { p.Summary = strings.Repeat("s", 4096) }), ""},
		{"message id of 64 characters", tpWith(func(p *mvmv1.TargetPackage) { p.Header.MessageId = strings.Repeat("b", 64) }), ""},
		{"largest valid package", tpWith(func(p *mvmv1.TargetPackage) {
			p.Locations = locs(16)
			for _, l := range p.Locations {
				l.Description = strings.Repeat("d", 256)
			}
			p.SuspectedGroup = strings.Repeat("g", 256)
			p.Summary = strings.Repeat("s", 4096)
			p.EvidenceSha256 = make([][]byte, 32)
			for i := range p.EvidenceSha256 {
				p.EvidenceSha256[i] = digest(string(rune('a' + i)))
			}
		}), ""},
		{"report declined with note", reportWith(func(r *mvmv1.ActionReport) { r.Outcome = mvmv1.Outcome_OUTCOME_DECLINED; r.Note = "no" }), ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := tc.build()
			c := f.pk()
			if _, ok := m.(*mvmv1.ActionReport); ok {
				c = f.af()
			}
			before := f.size(t)
			sealed, err := c.Seal(m)
			if err != nil {
				t.Fatalf("seal: %v", err)
			}
			resp, err := c.AppendSealed(ctxT(t), sealed)
			if tc.field != "" {
				wantCode(t, err, codes.InvalidArgument, tc.field+":")
				f.wantSize(t, before)
				return
			}
			if err != nil {
				t.Fatalf("append: got %v, want OK", err)
			}
			if e := f.verifyReceipt(t, resp.Receipt); !bytes.Equal(e.Envelope, sealed) {
				t.Errorf("receipt leaf does not hold the envelope sent")
			}
			f.wantSize(t, before+1)
		})
	}
}
