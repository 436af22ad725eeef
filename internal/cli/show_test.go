package cli

import (
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/mvm-exchange/mvm/client/mvmclient"
	"github.com/mvm-exchange/mvm/internal/identity"
	"github.com/mvm-exchange/mvm/internal/message"
	"github.com/mvm-exchange/mvm/internal/workflow"
	mvmv1 "github.com/mvm-exchange/mvm/proto/mvm/v1"
)

// fill sets every field of m, recursively, to a non-zero value; lists
// get one element.
func fill(m protoreflect.Message) {
	fields := m.Descriptor().Fields()
	for i := range fields.Len() {
		f := fields.Get(i)
		switch {
		case f.IsList():
			l := m.Mutable(f).List()
			if f.Kind() == protoreflect.MessageKind {
				e := l.NewElement()
				fill(e.Message())
				l.Append(e)
			} else {
				l.Append(scalar(f))
			}
		case f.Kind() == protoreflect.MessageKind:
			fill(m.Mutable(f).Message())
		default:
			m.Set(f, scalar(f))
		}
	}
}

func scalar(f protoreflect.FieldDescriptor) protoreflect.Value {
	switch f.Kind() {
	case protoreflect.StringKind:
		return protoreflect.ValueOfString("v-" + string(f.Name()))
	case protoreflect.BytesKind:
		return protoreflect.ValueOfBytes([]byte{0xab, 0xcd})
	case protoreflect.EnumKind:
		return protoreflect.ValueOfEnum(1)
	case protoreflect.DoubleKind:
		return protoreflect.ValueOfFloat64(1.5)
	case protoreflect.Uint32Kind:
		return protoreflect.ValueOfUint32(7)
	case protoreflect.Int64Kind:
		return protoreflect.ValueOfInt64(1_700_000_000)
	case protoreflect.Int32Kind:
		return protoreflect.ValueOfInt32(7)
	case protoreflect.Uint64Kind:
		return protoreflect.ValueOfUint64(7)
	}
	panic("no filler for " + f.Kind().String())
}

// TestSignedFieldsShowsEveryField: show prints one line for every field an
// author signed (one per list element; a location or the counts are one
// line): a field added to a payload and not shown fails here. The package
// id is the one shown at the top.
func TestSignedFieldsShowsEveryField(t *testing.T) {
	for _, m := range []proto.Message{
		&mvmv1.TargetPackage{}, &mvmv1.Acknowledgement{}, &mvmv1.RequestForInformation{}, &mvmv1.InformationResponse{},
		&mvmv1.ActionReport{}, &mvmv1.EvidenceSubmission{}, &mvmv1.Withdrawal{}, &mvmv1.VerificationFinding{},
		&mvmv1.Dispute{}, &mvmv1.Ruling{},
	} {
		name := string(m.ProtoReflect().Descriptor().Name())
		t.Run(name, func(t *testing.T) {
			fill(m.ProtoReflect())
			want := 0
			fields := m.ProtoReflect().Descriptor().Fields()
			for i := range fields.Len() {
				switch fields.Get(i).Name() {
				case "header":
					want += 2 // message id, authored at
				case "package_id":
				default:
					want++
				}
			}
			got := signedFields(m)
			if len(got) != want {
				t.Fatalf("got %d lines, want %d (one per signed field):\n%s", len(got), want, strings.Join(got, "\n"))
			}
			for _, l := range got {
				if name, value, ok := strings.Cut(l, ": "); !ok || name == "" || value == "" {
					t.Errorf("line %q is not \"name: value\"", l)
				}
			}
		})
	}
}

// TestPrintHistoryAligns: the history's columns start at the same offset
// on every line, whatever the widths of the values.
func TestPrintHistoryAligns(t *testing.T) {
	at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	pk := identity.Identity{TrustDomain: "mvm.example", Party: "pk", Name: "pk-liaison"}
	af := identity.Identity{TrustDomain: "mvm.example", Party: "af", Name: "a"}
	v := &mvmclient.VerifiedPackage{
		State: &workflow.Package{ID: "p", Status: workflow.StatusAcknowledged, Submitter: pk, Responder: "af"},
		Entries: []mvmclient.PackageEntry{
			{Index: 1, ReceivedAt: at, Author: pk, Type: message.TypeOf(&mvmv1.TargetPackage{}), Payload: &mvmv1.TargetPackage{Summary: "s"}},
			{Index: 12345, ReceivedAt: at, Author: af, Type: message.TypeOf(&mvmv1.Acknowledgement{}), Payload: &mvmv1.Acknowledgement{}},
		},
	}
	var b strings.Builder
	printPackage(&b, v)
	var table []string
	in := false
	for _, l := range strings.Split(b.String(), "\n") {
		switch {
		case l == "history:":
			in = true
		case in && strings.HasPrefix(l, "  "):
			table = append(table, l)
		default:
			in = false
		}
	}
	if len(table) != 3 {
		t.Fatalf("history has %d lines, want 3:\n%s", len(table), b.String())
	}
	for _, col := range []string{"RECEIVED", "TYPE", "AUTHOR", "WHAT"} {
		off := strings.Index(table[0], col)
		for _, row := range table[1:] {
			if off <= 0 || off > len(row) || row[off-1] != ' ' || row[off] == ' ' {
				t.Errorf("column %s at offset %d does not start there in %q", col, off, row)
			}
		}
	}
}
