package message

import (
	"testing"

	"google.golang.org/protobuf/reflect/protoreflect"
)

// TestHasUnknownEveryMessage holds hasUnknown, and its typed path where a
// type has one, to the reflective walk: for every payload type filled
// three levels deep, no unknown field anywhere is none, and an unknown
// field set in any one message of it (the payload, a nested message, an
// element of a repeated one) is found by all three.
func TestHasUnknownEveryMessage(t *testing.T) {
	unknown := protoreflect.RawFields{0xf8, 0x07, 0x01} // field 127, varint 1
	for typ, newMsg := range constructors {
		m := newMsg()
		fill(m.ProtoReflect(), 1, 3)
		check := func(where string, want bool) {
			t.Helper()
			if got := hasUnknown(m); got != want {
				t.Errorf("%s, unknown field %s: hasUnknown = %v, want %v", typ, where, got, want)
			}
			if got := hasUnknownReflect(m.ProtoReflect()); got != want {
				t.Errorf("%s, unknown field %s: hasUnknownReflect = %v, want %v", typ, where, got, want)
			}
			if got, ok := hasUnknownTyped(m); ok && got != want {
				t.Errorf("%s, unknown field %s: hasUnknownTyped = %v, want %v", typ, where, got, want)
			}
		}
		check("nowhere", false)
		var visit func(path string, msg protoreflect.Message)
		visit = func(path string, msg protoreflect.Message) {
			msg.SetUnknown(unknown)
			check("in "+path, true)
			msg.SetUnknown(nil)
			fields := msg.Descriptor().Fields()
			for i := range fields.Len() {
				fd := fields.Get(i)
				if fd.Message() == nil || fd.IsMap() || !msg.Has(fd) {
					continue
				}
				p := path + "." + string(fd.Name())
				if !fd.IsList() {
					visit(p, msg.Get(fd).Message())
					continue
				}
				l := msg.Get(fd).List()
				for j := range l.Len() {
					visit(p+"["+itoa(j)+"]", l.Get(j).Message())
				}
			}
		}
		visit("", m.ProtoReflect())
		check("nowhere, after", false)
	}
}
