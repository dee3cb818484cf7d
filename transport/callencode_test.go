package transport

import (
	"fmt"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	pb "github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
)

// setField sets field fd of m to a value other than its default (two
// elements for a repeated one, the first of a bytes list empty; a
// message with every field set, to depth levels), so that a field the
// encoder does not write is seen missing.
func setField(m protoreflect.Message, fd protoreflect.FieldDescriptor, depth int) {
	scalar := func() protoreflect.Value {
		switch fd.Kind() {
		case protoreflect.BoolKind:
			return protoreflect.ValueOfBool(true)
		case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind:
			return protoreflect.ValueOfInt32(-7)
		case protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
			return protoreflect.ValueOfInt64(-1 << 40)
		case protoreflect.Uint32Kind, protoreflect.Fixed32Kind:
			return protoreflect.ValueOfUint32(300)
		case protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
			return protoreflect.ValueOfUint64(1<<40 + 3)
		case protoreflect.FloatKind:
			return protoreflect.ValueOfFloat32(1.5)
		case protoreflect.DoubleKind:
			return protoreflect.ValueOfFloat64(2.5)
		case protoreflect.StringKind:
			return protoreflect.ValueOfString("s")
		case protoreflect.BytesKind:
			return protoreflect.ValueOfBytes([]byte("bytes"))
		case protoreflect.EnumKind:
			return protoreflect.ValueOfEnum(1)
		}
		panic(fmt.Sprintf("field %s: kind %v", fd.FullName(), fd.Kind()))
	}
	message := func(v protoreflect.Message) protoreflect.Value {
		if depth > 0 {
			fillMessage(v, depth-1)
		}
		return protoreflect.ValueOfMessage(v)
	}
	switch {
	case fd.IsList():
		l := m.Mutable(fd).List()
		for i := range 2 {
			if fd.Message() != nil {
				l.Append(message(l.NewElement().Message()))
			} else if fd.Kind() == protoreflect.BytesKind && i == 0 {
				l.Append(protoreflect.ValueOfBytes([]byte{}))
			} else {
				l.Append(scalar())
			}
		}
	case fd.IsMap():
		panic(fmt.Sprintf("field %s: a map", fd.FullName()))
	case fd.Message() != nil:
		m.Set(fd, message(m.NewField(fd).Message()))
	default:
		m.Set(fd, scalar())
	}
}

// fillMessage sets every field of m but those of real oneofs.
func fillMessage(m protoreflect.Message, depth int) {
	fds := m.Descriptor().Fields()
	for i := range fds.Len() {
		fd := fds.Get(i)
		if o := fd.ContainingOneof(); o != nil && !o.IsSynthetic() {
			continue
		}
		setField(m, fd, depth)
	}
}

// checkCallEncoding encodes c with appendCall and checks that the bytes
// are sizeCall's many and decode to c, and whether appendCall wrote them
// itself (plain).
func checkCallEncoding(t *testing.T, name string, c *pb.Call, plain bool) {
	t.Helper()
	if got := plainSyscall(c) != nil; got != plain {
		t.Errorf("%s: encoded by hand: %v, want %v", name, got, plain)
	}
	b, err := appendCall([]byte{0xff}, postedCallsField, c)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	if len(b)-1 != sizeCall(postedCallsField, c) {
		t.Errorf("%s: %d bytes, sized %d", name, len(b)-1, sizeCall(postedCallsField, c))
	}
	num, typ, n := protowire.ConsumeTag(b[1:])
	if num != postedCallsField || typ != protowire.BytesType {
		t.Fatalf("%s: tag %d/%d", name, num, typ)
	}
	v, m := protowire.ConsumeBytes(b[1+n:])
	if m < 0 || 1+n+m != len(b) {
		t.Fatalf("%s: bad length", name)
	}
	got := new(pb.Call)
	if err := proto.Unmarshal(v, got); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	if !proto.Equal(got, c) {
		t.Errorf("%s: decoded\n%v\nwant\n%v", name, got, c)
	}
	if plain {
		if want, _ := proto.Marshal(c); len(want) != len(v) {
			t.Errorf("%s: %d bytes, proto.Marshal's %d", name, len(v), len(want))
		}
	}
}

// TestAppendCallEqual: a posted call that appendCall encodes decodes to
// an equal Call, with every field of its Syscall (Region, WriteParts)
// set, each alone and all together, and so does one it leaves to
// proto.Marshal (clocks, another Call field, another oneof, unknown
// fields). Every field sentry.proto gives these messages is set, so that
// one the encoder does not write fails the test.
func TestAppendCallEqual(t *testing.T) {
	syscallCall := func(sc *pb.Syscall) *pb.Call {
		return &pb.Call{Seq: 1 << 33, Tid: 77, Op: &pb.Call_Syscall{Syscall: sc}}
	}
	scFields := (&pb.Syscall{}).ProtoReflect().Descriptor().Fields()
	clocks := scFields.ByName("clocks")
	all := &pb.Syscall{}
	for i := range scFields.Len() {
		fd := scFields.Get(i)
		sc := &pb.Syscall{}
		setField(sc.ProtoReflect(), fd, 2)
		checkCallEncoding(t, "syscall "+string(fd.Name()), syscallCall(sc), fd != clocks)
		if fd != clocks {
			setField(all.ProtoReflect(), fd, 2)
		}
	}
	checkCallEncoding(t, "every syscall field", syscallCall(all), true)
	checkCallEncoding(t, "an empty syscall", syscallCall(&pb.Syscall{}), true)
	checkCallEncoding(t, "no seq or tid", &pb.Call{Op: &pb.Call_Syscall{Syscall: &pb.Syscall{Sysno: 95, Args: []uint64{0o22}}}}, true)
	neg := int32(-1)
	checkCallEncoding(t, "negative ints", &pb.Call{Tid: -3, Op: &pb.Call_Syscall{Syscall: &pb.Syscall{Sysno: -1, InstallFd: &neg}}}, true)
	zero, zero64 := int32(0), uint64(0)
	checkCallEncoding(t, "optional zeros", syscallCall(&pb.Syscall{InstallFd: &zero, AheadCookie: &zero64, WriteParts: &pb.WriteParts{}}), true)
	checkCallEncoding(t, "a nil input", syscallCall(&pb.Syscall{Inputs: []*pb.Region{nil}}), false)

	// Call's fields but its oneof, each alone with a Syscall.
	callFields := (&pb.Call{}).ProtoReflect().Descriptor().Fields()
	for i := range callFields.Len() {
		fd := callFields.Get(i)
		if o := fd.ContainingOneof(); o != nil && !o.IsSynthetic() {
			continue
		}
		c := &pb.Call{Op: &pb.Call_Syscall{Syscall: &pb.Syscall{Sysno: 1}}}
		setField(c.ProtoReflect(), fd, 1)
		plain := fd.Name() == "seq" || fd.Name() == "tid"
		checkCallEncoding(t, "call "+string(fd.Name()), c, plain)
	}
	// The oneof's other cases (its Syscall filled, clocks too).
	op := callFields.ByName("syscall").ContainingOneof().Fields()
	for i := range op.Len() {
		fd := op.Get(i)
		c := &pb.Call{Seq: 5}
		setField(c.ProtoReflect(), fd, 1)
		checkCallEncoding(t, "op "+string(fd.Name()), c, false)
	}
	// Unknown fields, in each message.
	unknown := protowire.AppendVarint(protowire.AppendTag(nil, 9999, protowire.VarintType), 1)
	for _, where := range []string{"call", "syscall", "region", "write_parts"} {
		sc := &pb.Syscall{Sysno: 1, Inputs: []*pb.Region{{Addr: 1}}, WriteParts: &pb.WriteParts{Lengths: []uint64{1}}}
		c := syscallCall(sc)
		m := map[string]protoreflect.Message{"call": c.ProtoReflect(), "syscall": sc.ProtoReflect(), "region": sc.Inputs[0].ProtoReflect(), "write_parts": sc.WriteParts.ProtoReflect()}[where]
		m.SetUnknown(unknown)
		checkCallEncoding(t, "unknown field in "+where, c, false)
	}
}

// TestAppendClientMessage: a message with posted calls is encoded as
// proto.Marshal encodes it (the same fields, decoding to an equal
// message) and left as it was.
func TestAppendClientMessage(t *testing.T) {
	posted := []*pb.Call{
		{Seq: 1, Tid: 2, Op: &pb.Call_Syscall{Syscall: &pb.Syscall{Sysno: 95, Args: []uint64{0o22, 0, 0, 0, 0, 0}, Posted: true, ReplyCanWait: true}}},
		{Seq: 2, Tid: 2, Op: &pb.Call_Syscall{Syscall: &pb.Syscall{Sysno: 1, Args: []uint64{3, 0x1000, 5}, Inputs: []*pb.Region{{Addr: 0x1000, Data: []byte("hello")}}, Posted: true}}},
		{Seq: 3, Tid: 2, Op: &pb.Call_Syscall{Syscall: &pb.Syscall{Sysno: 1, Clocks: &pb.ClockSample{}}}},
	}
	for _, m := range []*pb.ClientMessage{
		{PostedCalls: posted},
		{PostedCalls: posted, ChannelBatches: 7, Msg: &pb.ClientMessage_Call{Call: &pb.Call{Seq: 4, Tid: 2, Op: &pb.Call_Syscall{Syscall: &pb.Syscall{Sysno: 39}}}}},
	} {
		want := proto.Clone(m)
		b, err := appendClientMessage([]byte("x"), m)
		if err != nil {
			t.Fatal(err)
		}
		if !proto.Equal(m, want) {
			t.Errorf("the message changed: %v, was %v", m, want)
		}
		if len(m.PostedCalls) != len(posted) || &m.PostedCalls[0] != &posted[0] {
			t.Errorf("the message's posted calls are not its own any more")
		}
		got := new(pb.ClientMessage)
		if err := proto.Unmarshal(b[1:], got); err != nil {
			t.Fatal(err)
		}
		if !proto.Equal(got, m) {
			t.Errorf("decoded %v, want %v", got, m)
		}
		if pm, _ := proto.Marshal(m); len(pm) != len(b)-1 {
			t.Errorf("%d bytes, proto.Marshal's %d", len(b)-1, len(pm))
		}
	}
}

// BenchmarkAppendPostedFrame times the encoding of a frame of 64 posted
// umasks, by hand and by proto.Marshal.
func BenchmarkAppendPostedFrame(b *testing.B) {
	m := &pb.ClientMessage{}
	for i := range maxPostedBatch {
		m.PostedCalls = append(m.PostedCalls, &pb.Call{Seq: uint64(1000 + i), Tid: 7, Op: &pb.Call_Syscall{Syscall: &pb.Syscall{
			Sysno: 95, Args: []uint64{0o22, 0, 0, 0, 0, 0}, Posted: true, ReplyCanWait: true}}})
	}
	buf := make([]byte, 0, 64<<10)
	b.Run("hand", func(b *testing.B) {
		b.ReportAllocs()
		for range b.N {
			buf, _ = appendClientMessage(buf[:0], m)
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(m.PostedCalls)), "ns/call")
	})
	b.Run("proto", func(b *testing.B) {
		b.ReportAllocs()
		for range b.N {
			buf, _ = proto.MarshalOptions{}.MarshalAppend(buf[:0], m)
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(m.PostedCalls)), "ns/call")
	})
}
