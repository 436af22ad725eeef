package message_test

import (
	"strings"

	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/mvm-exchange/mvm/internal/message"
	"github.com/mvm-exchange/mvm/internal/seal"
)

// BenchmarkOpen opens one sealed entry as audit --key does for every
// entry (the package key already unwrapped): a target package sealed to
// four parties, and an acknowledgement; -decoded as the audit does it,
// with the header the audit decoded already.
func BenchmarkOpen(b *testing.B) {
	ps := newSealParties(b, "pk", "af", "tr", "qa")
	tp, key, err := message.SealPackage(secretTarget(), origin, ps.recipients("pk", "af", "tr", "qa"))
	if err != nil {
		b.Fatal(err)
	}
	ack, err := message.SealMessage(validAck(), origin, key)
	if err != nil {
		b.Fatal(err)
	}
	for _, bc := range []struct {
		name string
		m    proto.Message
	}{{"package", tp}, {"ack", ack}} {
		payload, err := proto.Marshal(bc.m)
		if err != nil {
			b.Fatal(err)
		}
		typ := message.TypeOf(bc.m)
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := message.Open(origin, key, typ, payload); err != nil {
					b.Fatal(err)
				}
			}
		})
		header, err := message.Decode(typ, payload)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(bc.name+"-decoded", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := message.OpenDecoded(origin, key, header, payload); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkSealMessage seals an acknowledgement with a 132-character note
// under a package key, as a responder's client does for each message.
func BenchmarkSealMessage(b *testing.B) {
	key, err := seal.NewPackageKey()
	if err != nil {
		b.Fatal(err)
	}
	ack := validAck()
	ack.Note = strings.Repeat("bench text ", 12)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := message.SealMessage(ack, origin, key); err != nil {
			b.Fatal(err)
		}
	}
}
