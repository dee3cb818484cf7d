package goferpb

import (
	"testing"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
)

// fill sets every field of m: scalars to 1 (or "x"), lists to two
// elements, messages filled in turn (up to depth 4).
func fill(m protoreflect.Message, depth int) {
	if depth > 4 {
		return
	}
	fields := m.Descriptor().Fields()
	for i := 0; i < fields.Len(); i++ {
		fd := fields.Get(i)
		if fd.IsMap() {
			continue
		}
		if od := fd.ContainingOneof(); od != nil && m.WhichOneof(od) != nil {
			continue
		}
		if fd.IsList() {
			l := m.Mutable(fd).List()
			for j := 0; j < 2; j++ {
				if fd.Message() != nil {
					e := l.NewElement()
					fill(e.Message(), depth+1)
					l.Append(e)
				} else {
					l.Append(scalar(fd))
				}
			}
			continue
		}
		if fd.Message() != nil {
			fill(m.Mutable(fd).Message(), depth+1)
			continue
		}
		m.Set(fd, scalar(fd))
	}
}

func scalar(fd protoreflect.FieldDescriptor) protoreflect.Value {
	switch fd.Kind() {
	case protoreflect.BoolKind:
		return protoreflect.ValueOfBool(true)
	case protoreflect.EnumKind:
		return protoreflect.ValueOfEnum(1)
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind:
		return protoreflect.ValueOfInt32(1)
	case protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
		return protoreflect.ValueOfInt64(1)
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind:
		return protoreflect.ValueOfUint32(1)
	case protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		return protoreflect.ValueOfUint64(1)
	case protoreflect.FloatKind:
		return protoreflect.ValueOfFloat32(1)
	case protoreflect.DoubleKind:
		return protoreflect.ValueOfFloat64(1)
	case protoreflect.StringKind:
		return protoreflect.ValueOfString("x")
	default:
		return protoreflect.ValueOfBytes([]byte("x"))
	}
}

type visit struct {
	h  *Handle
	st *Stat
}

// TestRangeHandlesKnown: for every message of the gofer protocol, fully
// populated, the walk without reflection (where it claims the message)
// visits exactly the handles, each with its stat, that the reflective
// walk visits.
func TestRangeHandlesKnown(t *testing.T) {
	known := 0
	msgs := File_gofer_proto.Messages()
	for i := 0; i < msgs.Len(); i++ {
		mt, err := protoregistry.GlobalTypes.FindMessageByName(msgs.Get(i).FullName())
		if err != nil {
			t.Fatal(err)
		}
		m := mt.New()
		fill(m, 0)
		var slow, fast []visit
		rangeHandlesReflect(m, func(h *Handle, st *Stat) { slow = append(slow, visit{h, st}) })
		if !rangeHandlesKnown(m.Interface(), func(h *Handle, st *Stat) { fast = append(fast, visit{h, st}) }) {
			continue
		}
		known++
		name := msgs.Get(i).Name()
		if len(slow) != len(fast) {
			t.Errorf("%s: %d handles without reflection, %d with", name, len(fast), len(slow))
			continue
		}
		for _, v := range slow {
			found := false
			for _, w := range fast {
				found = found || v == w
			}
			if !found {
				t.Errorf("%s: handle %v (stat %p) visited only with reflection", name, v.h, v.st)
			}
		}
	}
	if known < 10 {
		t.Errorf("only %d messages walked without reflection", known)
	}
	// And on a real reply.
	r := &CreateReply{Handle: &Handle{Id: 1}, Stat: &Stat{Ino: 2}, Path: &Handle{Id: 3}}
	var n int
	RangeHandles(proto.Message(r).ProtoReflect(), func(h *Handle, st *Stat) {
		n++
		if st != r.Stat {
			t.Errorf("handle %d with stat %v", h.Id, st)
		}
	})
	if n != 2 {
		t.Errorf("%d handles in a CreateReply with two", n)
	}
}
