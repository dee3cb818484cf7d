package postbatch

import (
	"slices"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
)

func TestReplies(t *testing.T) {
	tests := []struct {
		name string
		// hold are the seqs held before m is attached.
		hold []uint64
		// m is the message they ride on (nil: Take).
		m *sentrypb.ServerMessage
		// want are the posted replies' seqs in the message sent (nil
		// message: none).
		want []uint64
	}{
		{"nothing held, a reply", nil, &sentrypb.ServerMessage{Msg: &sentrypb.ServerMessage_Reply{Reply: &sentrypb.Reply{Seq: 9}}}, []uint64{}},
		{"nothing held, alone", nil, nil, nil},
		{"two held, on a reply", []uint64{3, 4}, &sentrypb.ServerMessage{Msg: &sentrypb.ServerMessage_Reply{Reply: &sentrypb.Reply{Seq: 9}}}, []uint64{3, 4}},
		{"held, on a push", []uint64{5}, &sentrypb.ServerMessage{Msg: &sentrypb.ServerMessage_Push{Push: &sentrypb.Push{}}}, []uint64{5}},
		{"held, alone", []uint64{6, 7, 8}, nil, []uint64{6, 7, 8}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var b Replies
			for _, s := range tc.hold {
				if !b.Hold(&sentrypb.Reply{Seq: s}) {
					t.Fatalf("Hold(%d) refused", s)
				}
			}
			var got *sentrypb.ServerMessage
			if tc.m == nil {
				got = b.Take()
				if (got == nil) != (tc.want == nil) {
					t.Fatalf("Take() = %v, want replies %v", got, tc.want)
				}
			} else {
				got = b.Attach(tc.m)
				if got != tc.m {
					t.Fatalf("Attach returned another message")
				}
			}
			if b.Len() != 0 {
				t.Errorf("%d replies still held after sending", b.Len())
			}
			if got == nil {
				return
			}
			if len(got.PostedReplies) != len(tc.want) {
				t.Fatalf("posted replies %v, want seqs %v", got.PostedReplies, tc.want)
			}
			for i, r := range got.PostedReplies {
				if r.Seq != tc.want[i] {
					t.Errorf("posted reply %d has seq %d, want %d (order kept)", i, r.Seq, tc.want[i])
				}
			}
			if tc.m != nil && tc.m.GetReply() != nil && got.GetReply().Seq != 9 {
				t.Errorf("the message's own reply changed")
			}
		})
	}
}

// holdCases are TestHoldDone's and TestHoldWrite's: whether the client
// takes the reply's packed kind (Packed, PackedWrites), how many replies
// are held whole before it, and whether it is held packed.
var holdCases = []struct {
	name     string
	takes    bool
	held     int
	wantHeld bool
}{
	{"taken", true, 0, true},
	{"beside others", true, 3, true},
	{"not taken", false, 0, false},
	{"full", true, MaxHeld, false},
	{"room for one", true, MaxHeld - 1, true},
}

// TestHoldDone: a result alone held packed keeps its values (the Reply
// may be reused at once) and goes in posted_done; only to a client that
// takes them (Packed) and within MaxHeld; a reply held whole beside
// packed results goes whole, so that posted_done stays in seq order.
func TestHoldDone(t *testing.T) {
	for _, tc := range holdCases {
		t.Run(tc.name, func(t *testing.T) {
			b := &Replies{Packed: tc.takes}
			for i := range tc.held {
				b.Hold(&sentrypb.Reply{Seq: uint64(i + 1), Errno: 1})
			}
			r := &sentrypb.Reply{Seq: uint64(tc.held + 1), Ret: 0o22}
			if got := b.HoldDone(r.Seq, r.Ret); got != tc.wantHeld {
				t.Fatalf("HoldDone = %v, want %v", got, tc.wantHeld)
			}
			wantLen := tc.held
			if tc.wantHeld {
				wantLen++
			}
			if b.Len() != wantLen {
				t.Errorf("Len = %d, want %d", b.Len(), wantLen)
			}
			// The caller reuses r (its Task's) for its next call.
			r.Seq, r.Ret = 999, -1
			m := b.Take()
			if !tc.wantHeld {
				return
			}
			if d := m.GetPostedDone(); len(d.GetSeq()) != 1 || d.Seq[0] != uint64(tc.held+1) || d.Ret[0] != 0o22 {
				t.Errorf("posted_done %v, want seq %d ret 0o22", d, tc.held+1)
			}
			if len(m.PostedReplies) != tc.held {
				t.Errorf("%d replies whole, want %d", len(m.PostedReplies), tc.held)
			}
			if b.Len() != 0 {
				t.Errorf("%d replies still held after sending", b.Len())
			}
		})
	}
	t.Run("packed results fill the batch", func(t *testing.T) {
		b := &Replies{Packed: true, PackedWrites: true}
		for seq := range uint64(MaxHeld) {
			if !b.HoldDone(seq+1, 0) {
				t.Fatalf("HoldDone %d refused", seq+1)
			}
		}
		// The next reply goes now, with them: a batch is MaxHeld.
		if b.Hold(&sentrypb.Reply{Seq: MaxHeld + 1}) || b.HoldWrite(MaxHeld+1, 1, 1, 0, 1) || b.HoldDone(MaxHeld+1, 0) {
			t.Errorf("a reply held past %d packed results", MaxHeld)
		}
	})
	t.Run("dropped", func(t *testing.T) {
		b := &Replies{Packed: true}
		b.HoldDone(1, 0)
		b.Drop()
		if b.Len() != 0 || b.Take() != nil {
			t.Errorf("a packed result still held after Drop")
		}
	})
	t.Run("whole result beside packed ones", func(t *testing.T) {
		b := &Replies{Packed: true}
		b.HoldDone(1, 0)
		b.Hold(&sentrypb.Reply{Seq: 2})
		b.HoldDone(3, 0)
		m := b.Take()
		if got := m.GetPostedDone().GetSeq(); !slices.Equal(got, []uint64{1, 3}) {
			t.Errorf("posted_done seqs %v, want [1 3]", got)
		}
		if len(m.PostedReplies) != 1 || m.PostedReplies[0].Seq != 2 {
			t.Errorf("replies whole %v, want seq 2's", m.PostedReplies)
		}
	})
}

func TestRepliesBounded(t *testing.T) {
	var b Replies
	for i := 0; i < MaxHeld; i++ {
		if !b.Hold(&sentrypb.Reply{Seq: uint64(i)}) {
			t.Fatalf("Hold refused the %dth reply, want %d held", i, MaxHeld)
		}
	}
	if b.Hold(&sentrypb.Reply{Seq: MaxHeld}) {
		t.Fatalf("Hold took more than MaxHeld (%d) replies", MaxHeld)
	}
	if m := b.Take(); len(m.GetPostedReplies()) != MaxHeld {
		t.Fatalf("Take carried %d replies, want %d", len(m.GetPostedReplies()), MaxHeld)
	}
	b.Hold(&sentrypb.Reply{Seq: 1})
	b.Drop()
	if b.Take() != nil {
		t.Fatalf("Take after Drop returned replies")
	}
}

// TestTakeInto: the held replies go, in order, into a call channel's
// reply (Reply.posted_replies, and posted_done when packed: those that
// carry a result alone), and nothing stays held.
func TestTakeInto(t *testing.T) {
	for _, tc := range []struct {
		name   string
		packed bool
		hold   []*sentrypb.Reply
		// wantFull and wantDone are the seqs in posted_replies and
		// posted_done.
		wantFull, wantDone []uint64
	}{
		{"none", false, nil, nil, nil},
		{"one", false, []*sentrypb.Reply{{Seq: 3}}, []uint64{3}, nil},
		{"three", false, []*sentrypb.Reply{{Seq: 4}, {Seq: 5}, {Seq: 6}}, []uint64{4, 5, 6}, nil},
		{"packed", true, []*sentrypb.Reply{{Seq: 4, Ret: 18}, {Seq: 5, Errno: 9}, {Seq: 6}, {Seq: 7, Ret: -1},
			{Seq: 8, State: []*sentrypb.StateRecord{{Key: "fs/1"}}}}, []uint64{5, 8}, []uint64{4, 6, 7}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := Replies{Packed: tc.packed}
			rets := map[uint64]int64{}
			for _, r := range tc.hold {
				b.Hold(r)
				rets[r.Seq] = r.Ret
			}
			var r sentrypb.Reply
			b.TakeInto(&r)
			var full []uint64
			for _, p := range r.PostedReplies {
				full = append(full, p.Seq)
			}
			if !slices.Equal(full, tc.wantFull) || !slices.Equal(r.GetPostedDone().GetSeq(), tc.wantDone) {
				t.Fatalf("posted_replies %v, posted_done %v; want %v, %v (order kept)", full, r.GetPostedDone().GetSeq(), tc.wantFull, tc.wantDone)
			}
			if d := r.GetPostedDone(); d != nil {
				if len(d.Ret) != len(d.Seq) {
					t.Fatalf("posted_done has %d seqs and %d results", len(d.Seq), len(d.Ret))
				}
				for i, s := range d.Seq {
					if d.Ret[i] != rets[s] {
						t.Errorf("posted_done says seq %d returned %d, want %d", s, d.Ret[i], rets[s])
					}
				}
			}
			if b.Len() != 0 {
				t.Errorf("replies still held after TakeInto")
			}
		})
	}
}

// TestHoldWrite: a write behind's reply is held packed only for a client
// that takes them (PackedWrites) and while fewer than MaxHeld replies of
// any kind are held; it leaves in posted_writes beside the others, in a
// message (Attach) or a channel reply (TakeInto), and Drop forgets it.
func TestHoldWrite(t *testing.T) {
	for _, tc := range holdCases {
		t.Run(tc.name, func(t *testing.T) {
			b := &Replies{Packed: true, PackedWrites: tc.takes}
			for i := range tc.held {
				b.Hold(&sentrypb.Reply{Seq: uint64(i + 1), Errno: 1})
			}
			seq := uint64(tc.held + 1)
			if room := b.Room(); room != tc.wantHeld {
				t.Errorf("Room = %v, want %v", room, tc.wantHeld)
			}
			if got := b.HoldWrite(seq, 4096, 7, 8192, 12288); got != tc.wantHeld {
				t.Fatalf("HoldWrite = %v, want %v", got, tc.wantHeld)
			}
			wantLen := tc.held
			if tc.wantHeld {
				wantLen++
			}
			if b.Len() != wantLen {
				t.Errorf("Len = %d, want %d", b.Len(), wantLen)
			}
			for _, take := range []string{"attach", "take into"} {
				c := *b
				c.held = slices.Clone(b.held)
				if b.writes != nil {
					c.writes = proto.Clone(b.writes).(*sentrypb.PostedWrites)
				}
				var writes *sentrypb.PostedWrites
				var full int
				if take == "attach" {
					m := c.Attach(&sentrypb.ServerMessage{})
					writes, full = m.PostedWrites, len(m.PostedReplies)
				} else {
					var r sentrypb.Reply
					c.TakeInto(&r)
					writes, full = r.PostedWrites, len(r.PostedReplies)
				}
				if c.Len() != 0 {
					t.Errorf("%s: %d still held", take, c.Len())
				}
				if full != tc.held {
					t.Errorf("%s: %d whole replies, want %d", take, full, tc.held)
				}
				if !tc.wantHeld {
					if writes != nil {
						t.Errorf("%s: packed writes %v, want none", take, writes)
					}
					continue
				}
				if w := writes; w == nil || !slices.Equal(w.Seq, []uint64{seq}) || w.Ret[0] != 4096 || w.File[0] != 7 || w.Offset[0] != 8192 || w.MovedTo[0] != 12288 {
					t.Errorf("%s: packed writes %v, want seq %d: 4096 bytes at 8192 of 7, moved to 12288", take, writes, seq)
				}
			}
			b.Drop()
			if b.Len() != 0 {
				t.Errorf("%d held after Drop", b.Len())
			}
		})
	}
}

// TestCanLinger checks that held replies may linger until one of a call
// the client may wait for is held (MarkUrgent), and that taking or
// dropping them forgets that.
func TestCanLinger(t *testing.T) {
	tests := []struct {
		name string
		// urgent marks the reply of each seq held, in order.
		urgent []bool
		end    func(*Replies)
		want   bool
		// wantAfter is CanLinger once a reply that may wait is held
		// after end.
		wantAfter bool
	}{
		{name: "none held", end: func(*Replies) {}, wantAfter: true},
		{name: "all may wait", urgent: []bool{false, false}, end: func(*Replies) {}, want: true, wantAfter: true},
		{name: "one urgent", urgent: []bool{false, true, false}, end: func(*Replies) {}},
		{name: "urgent, taken", urgent: []bool{true}, end: func(b *Replies) { b.Take() }, wantAfter: true},
		{name: "urgent, attached", urgent: []bool{true}, end: func(b *Replies) { b.Attach(&sentrypb.ServerMessage{}) }, wantAfter: true},
		{name: "urgent, dropped", urgent: []bool{true}, end: func(b *Replies) { b.Drop() }, wantAfter: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := &Replies{Packed: true}
			for i, u := range tc.urgent {
				b.Hold(&sentrypb.Reply{Seq: uint64(i + 1)})
				if u {
					b.MarkUrgent()
				}
			}
			if got := b.CanLinger(); got != tc.want {
				t.Errorf("CanLinger() = %v, want %v", got, tc.want)
			}
			tc.end(b)
			b.Hold(&sentrypb.Reply{Seq: 100})
			if got := b.CanLinger(); got != tc.wantAfter {
				t.Errorf("CanLinger() after = %v, want %v", got, tc.wantAfter)
			}
		})
	}
}

// Reply's field numbers of seq and ret.
const (
	seqField protowire.Number = 1
	retField protowire.Number = 2
)

// sizedAlone is how ResultAlone decided before it looked at fields:
// r's encoded size is that of its seq and ret alone.
func sizedAlone(r *sentrypb.Reply) bool {
	want := 0
	if r.Seq != 0 {
		want += protowire.SizeTag(seqField) + protowire.SizeVarint(r.Seq)
	}
	if r.Ret != 0 {
		want += protowire.SizeTag(retField) + protowire.SizeVarint(uint64(r.Ret))
	}
	return proto.Size(r) == want
}

// setField sets fd of m to a value that is not its default: one element
// for a list, an empty message for a message field (set all the same).
func setField(m protoreflect.Message, fd protoreflect.FieldDescriptor) {
	var v protoreflect.Value
	switch fd.Kind() {
	case protoreflect.BoolKind:
		v = protoreflect.ValueOfBool(true)
	case protoreflect.EnumKind:
		v = protoreflect.ValueOfEnum(1)
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind:
		v = protoreflect.ValueOfInt32(-3)
	case protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
		v = protoreflect.ValueOfInt64(-3)
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind:
		v = protoreflect.ValueOfUint32(3)
	case protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		v = protoreflect.ValueOfUint64(3)
	case protoreflect.FloatKind:
		v = protoreflect.ValueOfFloat32(3)
	case protoreflect.DoubleKind:
		v = protoreflect.ValueOfFloat64(3)
	case protoreflect.StringKind:
		v = protoreflect.ValueOfString("x")
	case protoreflect.BytesKind:
		v = protoreflect.ValueOfBytes([]byte{0})
	case protoreflect.MessageKind, protoreflect.GroupKind:
		if fd.IsList() {
			l := m.Mutable(fd).List()
			l.Append(l.NewElement())
			return
		}
		m.Set(fd, m.NewField(fd))
		return
	}
	if fd.IsList() {
		m.Mutable(fd).List().Append(v)
		return
	}
	m.Set(fd, v)
}

// TestResultAlone checks that a reply is packed only when it carries its
// seq and ret and nothing else, for every field Reply has (a field added
// later is covered here without a change), and that the answer is the
// one its encoded size gives.
func TestResultAlone(t *testing.T) {
	type testCase struct {
		name  string
		reply *sentrypb.Reply
		want  bool
	}
	tests := []testCase{
		{"empty", &sentrypb.Reply{}, true},
		{"seq", &sentrypb.Reply{Seq: 7}, true},
		{"seq and ret", &sentrypb.Reply{Seq: 7, Ret: 4096}, true},
		{"negative ret", &sentrypb.Reply{Seq: 1 << 40, Ret: -1}, true},
		{"errno", &sentrypb.Reply{Seq: 7, Errno: int32(2)}, false},
		{"records", &sentrypb.Reply{Seq: 7, Ret: 3, State: []*sentrypb.StateRecord{{Key: "fdt/1/3"}}}, false},
	}
	unknown := &sentrypb.Reply{Seq: 7}
	unknown.ProtoReflect().SetUnknown(protowire.AppendVarint(protowire.AppendTag(nil, 9999, protowire.VarintType), 1))
	tests = append(tests, testCase{"unknown field", unknown, false})
	fields := (&sentrypb.Reply{}).ProtoReflect().Descriptor().Fields()
	for i := range fields.Len() {
		fd := fields.Get(i)
		r := &sentrypb.Reply{Seq: 7, Ret: 1}
		setField(r.ProtoReflect(), fd)
		alone := fd.Number() == seqField || fd.Number() == retField
		tests = append(tests, testCase{"field " + string(fd.Name()), r, alone})
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := ResultAlone(tc.reply); got != tc.want {
				t.Errorf("ResultAlone(%v) = %v, want %v", tc.reply, got, tc.want)
			}
			if sized := sizedAlone(tc.reply); sized != tc.want {
				t.Errorf("its encoded size says alone = %v, want %v", sized, tc.want)
			}
		})
	}
}

// BenchmarkResultAlone measures the check of a held reply (twice per held
// reply: when held, and when the held replies are taken with their
// records) against the encoded size it replaced: a posted creation's
// reply of tar, with its records and leases, and one alone.
func BenchmarkResultAlone(b *testing.B) {
	created := &sentrypb.Reply{
		Seq: 90, Ret: 3,
		OpenedFile: 41,
		OpenedStat: make([]byte, 64),
		ParentStat: make([]byte, 64),
		Lease:      &sentrypb.ReadLease{},
		PathLease:  &sentrypb.PathLease{},
	}
	for i := range 6 {
		created.State = append(created.State,
			&sentrypb.StateRecord{Key: "fdt/1/" + string(rune('0'+i)), Value: &sentrypb.StateRecord_Fd{Fd: &sentrypb.FdState{FdTable: 1, Fd: int32(i), File: 41}}},
			&sentrypb.StateRecord{Key: "file/41", Value: &sentrypb.StateRecord_File{File: &sentrypb.FileState{}}})
	}
	for _, tc := range []struct {
		name  string
		reply *sentrypb.Reply
	}{
		{"created", created},
		{"alone", &sentrypb.Reply{Seq: 91, Ret: 512}},
	} {
		b.Run(tc.name+"/checked", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				ResultAlone(tc.reply)
			}
		})
		b.Run(tc.name+"/sized", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				sizedAlone(tc.reply)
			}
		})
	}
}

// TestHoldWriteAllocs counts the allocations of a batch of packed writes
// held and taken, after a batch of the same size: Take's message, the
// PostedWrites and its two arrays (appending to five arrays from empty made them grow a
// dozen times and more for a batch of 32); a batch larger than the last
// grows its arrays as any append does, and keeps every entry.
func TestHoldWriteAllocs(t *testing.T) {
	for _, tc := range []struct {
		name        string
		last, batch int
		want        float64
	}{
		{"one write", 1, 1, 4},
		{"eight", 8, 8, 4},
		{"32", 32, 32, 4},
		{"a full batch", MaxHeld, MaxHeld, 4},
		{"larger than the last", 8, 20, 4 + 5*2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := &Replies{Packed: true, PackedWrites: true}
			batch := func(n int) *sentrypb.PostedWrites {
				for i := range n {
					b.HoldWrite(uint64(i+1), 4096, 7, int64(i)*4096, int64(i+1)*4096)
				}
				return b.Take().PostedWrites
			}
			w := batch(tc.last)
			if got := testing.AllocsPerRun(50, func() {
				batch(tc.last) // the size the measured batch starts from
				w = batch(tc.batch)
			}) - 4; got > tc.want { // the batch before's, of the size it follows
				t.Errorf("%.1f allocations per batch of %d, want at most %v", got, tc.batch, tc.want)
			}
			if len(w.Seq) != tc.batch {
				t.Fatalf("%d writes taken, want %d", len(w.Seq), tc.batch)
			}
			for i := range tc.batch {
				if w.Seq[i] != uint64(i+1) || w.Ret[i] != 4096 || w.File[i] != 7 || w.Offset[i] != int64(i)*4096 || w.MovedTo[i] != int64(i+1)*4096 {
					t.Errorf("write %d: seq %d ret %d file %d offset %d moved to %d", i, w.Seq[i], w.Ret[i], w.File[i], w.Offset[i], w.MovedTo[i])
				}
			}
		})
	}
}
