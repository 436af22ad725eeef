package message

import (
	"testing"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// viewSameHeader is sameHeader as it was before it compared in place: two
// shallow views without the skipped fields, then proto.Equal. The test
// holds the new one to it.
func viewSameHeader(full, header proto.Message) bool {
	if TypeOf(full) == TypeEvidenceSubmission {
		return proto.Equal(Redact(full), withoutSeal(header))
	}
	skip := map[protoreflect.Name]bool{sealedBodyField: true, packageKeysField: true}
	for _, n := range Sensitive[TypeOf(full)] {
		skip[n] = true
	}
	view := func(m proto.Message) proto.Message {
		v := m.ProtoReflect().New()
		m.ProtoReflect().Range(func(fd protoreflect.FieldDescriptor, val protoreflect.Value) bool {
			if !skip[fd.Name()] {
				v.Set(fd, val)
			}
			return true
		})
		return v.Interface()
	}
	hr := header.ProtoReflect()
	for _, n := range Sensitive[TypeOf(full)] {
		if hr.Has(hr.Descriptor().Fields().ByName(n)) {
			return false
		}
	}
	return proto.Equal(view(full), view(header))
}

// fill sets every field of m (the last member of a oneof wins) to a
// value that is not its default, seeded by seed, two levels deep.
func fill(m protoreflect.Message, seed int, depth int) {
	fields := m.Descriptor().Fields()
	for i := range fields.Len() {
		fd := fields.Get(i)
		switch {
		case fd.IsMap():
			continue
		case fd.IsList():
			l := m.Mutable(fd).List()
			if fd.Message() != nil {
				if depth > 0 {
					e := l.NewElement()
					fill(e.Message(), seed, depth-1)
					l.Append(e)
				}
			} else {
				l.Append(scalar(fd, seed))
			}
		case fd.Message() != nil:
			if depth > 0 {
				fill(m.Mutable(fd).Message(), seed, depth-1)
			}
		default:
			m.Set(fd, scalar(fd, seed))
		}
	}
}

func scalar(fd protoreflect.FieldDescriptor, seed int) protoreflect.Value {
	switch fd.Kind() {
	case protoreflect.BoolKind:
		return protoreflect.ValueOfBool(seed%2 == 1)
	case protoreflect.EnumKind:
		return protoreflect.ValueOfEnum(protoreflect.EnumNumber(seed))
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind:
		return protoreflect.ValueOfInt32(int32(seed))
	case protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
		return protoreflect.ValueOfInt64(int64(seed))
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind:
		return protoreflect.ValueOfUint32(uint32(seed))
	case protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		return protoreflect.ValueOfUint64(uint64(seed))
	case protoreflect.FloatKind:
		return protoreflect.ValueOfFloat32(float32(seed) + 0.5)
	case protoreflect.DoubleKind:
		return protoreflect.ValueOfFloat64(float64(seed) + 0.25)
	case protoreflect.StringKind:
		return protoreflect.ValueOfString("s" + itoa(seed))
	case protoreflect.BytesKind:
		return protoreflect.ValueOfBytes([]byte{byte(seed)})
	}
	panic("unhandled kind " + fd.Kind().String())
}

// TestSameHeaderEveryField holds sameHeader to what it must tell, field by
// field, for every sealable type, and to the view-based comparison it
// replaced: a header equal to the redacted body passes whatever its seal;
// a header field missing, added or changed (at the top or one level down),
// or a sensitive field in the header, fails.
func TestSameHeaderEveryField(t *testing.T) {
	for typ := range Sensitive {
		full := constructors[typ]()
		fill(full.ProtoReflect(), 1, 2)
		fr := full.ProtoReflect()
		for _, n := range []protoreflect.Name{sealedBodyField, packageKeysField} {
			if fd := fr.Descriptor().Fields().ByName(n); fd != nil {
				fr.Clear(fd)
			}
		}
		header := func(change func(h protoreflect.Message)) proto.Message {
			h := Redact(full)
			hr := h.ProtoReflect()
			hr.Set(hr.Descriptor().Fields().ByName(sealedBodyField), protoreflect.ValueOfBytes([]byte("sealed")))
			if fd := hr.Descriptor().Fields().ByName(packageKeysField); fd != nil {
				l := hr.Mutable(fd).List()
				e := l.NewElement()
				fill(e.Message(), 5, 0)
				l.Append(e)
			}
			if change != nil {
				change(hr)
			}
			return h
		}
		check := func(name string, h proto.Message, want bool) {
			t.Helper()
			if got := sameHeader(full, h); got != want {
				t.Errorf("%s, %s: sameHeader = %v, want %v", typ, name, got, want)
			}
			if got := viewSameHeader(full, h); got != want {
				t.Errorf("%s, %s: the view comparison = %v, want %v", typ, name, got, want)
			}
			if got := sameHeaderReflect(full, h); got != want {
				t.Errorf("%s, %s: the reflective comparison = %v, want %v", typ, name, got, want)
			}
		}
		check("the redacted body", header(nil), true)
		sensitive := map[protoreflect.Name]bool{}
		for _, n := range Sensitive[typ] {
			sensitive[n] = true
			fd := fr.Descriptor().Fields().ByName(n)
			check("sensitive "+string(n)+" in the header", header(func(h protoreflect.Message) { h.Set(fd, fr.Get(fd)) }), false)
		}
		fields := fr.Descriptor().Fields()
		for i := range fields.Len() {
			fd := fields.Get(i)
			name := string(fd.Name())
			if sensitive[fd.Name()] || fd.Name() == sealedBodyField || fd.Name() == packageKeysField {
				continue
			}
			if typ == TypeEvidenceSubmission && name == "files" {
				continue // nested sensitive fields: Redact's own test
			}
			check(name+" missing from the header", header(func(h protoreflect.Message) { h.Clear(fd) }), !fr.Has(fd))
			switch {
			case fd.IsList() && fd.Message() != nil:
				check(name+" one more", header(func(h protoreflect.Message) {
					l := h.Mutable(fd).List()
					e := l.NewElement()
					fill(e.Message(), 1, 1)
					l.Append(e)
				}), false)
			case fd.IsList():
				check(name+" one more", header(func(h protoreflect.Message) { h.Mutable(fd).List().Append(scalar(fd, 2)) }), false)
			case fd.Message() != nil:
				// Present but empty is not absent (as for proto.Equal).
				bare := proto.Clone(full)
				bare.ProtoReflect().Clear(fd)
				h := header(func(h protoreflect.Message) { h.Set(fd, h.NewField(fd)) })
				if sameHeader(bare, h) || viewSameHeader(bare, h) {
					t.Errorf("%s, %s empty in the header and absent from the body: same header", typ, name)
				}
				// Every field below, at every depth fill reached: changed,
				// or (a message) cleared.
				var nested func(path string, at func(h protoreflect.Message) protoreflect.Message, md protoreflect.MessageDescriptor, inFull protoreflect.Message)
				nested = func(path string, at func(h protoreflect.Message) protoreflect.Message, md protoreflect.MessageDescriptor, inFull protoreflect.Message) {
					sub := md.Fields()
					for j := range sub.Len() {
						sd := sub.Get(j)
						p := path + "." + string(sd.Name())
						switch {
						case sd.IsList() || sd.IsMap():
							continue
						case sd.Message() != nil:
							if !inFull.Has(sd) {
								continue
							}
							check(p+" cleared", header(func(h protoreflect.Message) { at(h).Clear(sd) }), false)
							nested(p, func(h protoreflect.Message) protoreflect.Message { return at(h).Mutable(sd).Message() }, sd.Message(), inFull.Get(sd).Message())
						default:
							check(p+" changed", header(func(h protoreflect.Message) { at(h).Set(sd, scalar(sd, 2)) }), false)
						}
					}
					// Unknown fields count as fields (proto.Equal).
					check(path+" with an unknown field", header(func(h protoreflect.Message) {
						at(h).SetUnknown(protoreflect.RawFields{0xf8, 0x07, 0x01}) // field 127, varint 1
					}), false)
				}
				nested(name, func(h protoreflect.Message) protoreflect.Message { return h.Mutable(fd).Message() }, fd.Message(), fr.Get(fd).Message())
			default:
				check(name+" changed", header(func(h protoreflect.Message) { h.Set(fd, scalar(fd, 2)) }), false)
			}
		}
	}
}
