package transport

import (
	"bytes"
	"testing"
	"unsafe"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	pb "github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
)

// postedWrite returns a posted write call of data, as sentry/client
// posts one.
func postedWrite(seq uint64, data []byte) *pb.Call {
	return &pb.Call{Seq: seq, Tid: 7, Op: &pb.Call_Syscall{Syscall: &pb.Syscall{
		Sysno: 1, Args: []uint64{5, 0x700000, uint64(len(data)), 0, 0, 0},
		Inputs: []*pb.Region{{Addr: 0x700000, Data: data}},
		Posted: true, ReplyCanWait: true, CallGen: 3, PendingSignals: 1 << 9,
	}}}
}

// tarCalls returns the posted calls of one member of busybox tar -xf as
// sentry/client posts them: the creating open (its install_fd), the
// leased copy of data (its leased_data), fchown, fchmod, utimensat and
// close.
func tarCalls(data []byte) []*pb.Call {
	fd := int32(4)
	path := []byte("files2000/d07/f42.txt\x00")
	sc := func(seq uint64, s *pb.Syscall) *pb.Call {
		s.Posted = true
		return &pb.Call{Seq: seq, Tid: 7, Op: &pb.Call_Syscall{Syscall: s}}
	}
	return []*pb.Call{
		sc(1, &pb.Syscall{Sysno: 257, Args: []uint64{^uint64(99), 0x7000, 0x241, 0o644, 0, 0},
			Inputs: []*pb.Region{{Addr: 0x7000, Data: path}}, InstallFd: &fd, PathLeaseWanted: true}),
		sc(2, &pb.Syscall{Sysno: 40, Args: []uint64{4, 3, 0, uint64(len(data)), 0, 0}, LeasedData: data}),
		sc(3, &pb.Syscall{Sysno: 93, Args: []uint64{4, 0, 0, 0, 0, 0}}),
		sc(4, &pb.Syscall{Sysno: 91, Args: []uint64{4, 0o644, 0, 0, 0, 0}}),
		sc(5, &pb.Syscall{Sysno: 280, Args: []uint64{4, 0, 0x7100, 0, 0, 0},
			Inputs: []*pb.Region{{Addr: 0x7100, Data: make([]byte, 32)}}}),
		sc(6, &pb.Syscall{Sysno: 3, Args: []uint64{4, 0, 0, 0, 0, 0}}),
	}
}

func mustMarshal(t testing.TB, m proto.Message) []byte {
	t.Helper()
	b, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// page returns n bytes of letters from c on.
func page(n int, c byte) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = c + byte(i%26)
	}
	return b
}

// decodeCases are ClientMessages' encodings, each with whether
// decodeClientMessage leaves some Region.data in the frame and how many
// of its posted calls it decodes itself (the others: proto.Unmarshal).
func decodeCases(t testing.TB) []struct {
	name    string
	b       []byte
	aliased bool
	plain   int
} {
	writes := &pb.ClientMessage{}
	for i := range 4 {
		writes.PostedCalls = append(writes.PostedCalls, postedWrite(uint64(i+1), page(4096, 'a')))
	}
	withCall := proto.Clone(writes).(*pb.ClientMessage)
	withCall.Msg = &pb.ClientMessage_Call{Call: &pb.Call{Seq: 9, Tid: 7, Op: &pb.Call_Syscall{Syscall: &pb.Syscall{Sysno: 39}}}}
	withCall.ChannelBatches = 2
	small := &pb.ClientMessage{PostedCalls: []*pb.Call{postedWrite(1, []byte("hello\n")), postedWrite(2, nil)}}
	other := &pb.ClientMessage{PostedCalls: []*pb.Call{
		postedWrite(1, page(4096, 'a')),
		{Seq: 2, Tid: 7, Op: &pb.Call_FileRelease{FileRelease: &pb.FileRelease{}}},
		{Seq: 3, Tid: 7, Op: &pb.Call_Syscall{Syscall: &pb.Syscall{Sysno: 257, ListingPath: []byte("/tmp")}}},
	}}
	twoRegions := &pb.ClientMessage{PostedCalls: []*pb.Call{{Seq: 1, Op: &pb.Call_Syscall{Syscall: &pb.Syscall{
		Sysno: 20, Inputs: []*pb.Region{{Addr: 1, Data: page(600, 'a')}, {Addr: 2, Data: []byte("x")}, {Addr: 3, Data: page(700, 'k')}}}}}}}
	noOp := &pb.ClientMessage{PostedCalls: []*pb.Call{{Seq: 4}, {}}}
	flags := &pb.ClientMessage{PostedCalls: []*pb.Call{postedWrite(1, page(4096, 'a')), {Seq: 2, Op: &pb.Call_Syscall{Syscall: &pb.Syscall{
		Sysno: 0, NoNewPrivs: true, LeaseWanted: true, PathLeaseWanted: true, OwnedWrite: true, OwnedWanted: true,
		OpenDataWanted: true, DirListingWanted: true, ListingAhead: 7, PipeAheadWanted: true, PipeConsumed: true}}}}}
	owned := proto.Clone(writes).(*pb.ClientMessage)
	for _, c := range owned.PostedCalls {
		c.GetSyscall().OwnedWrite = true
	}
	mergedWrite := &pb.ClientMessage{PostedCalls: []*pb.Call{postedWrite(1, page(8192, 'a'))}}
	mergedWrite.PostedCalls[0].GetSyscall().WriteParts = &pb.WriteParts{Lengths: []uint64{4096, 1000, 3096}}
	installFD := int32(3)
	optional := &pb.ClientMessage{PostedCalls: []*pb.Call{{Seq: 1, Op: &pb.Call_Syscall{Syscall: &pb.Syscall{Sysno: 2, InstallFd: &installFD}}}}}
	negativeFD := int32(-100)
	negative := &pb.ClientMessage{PostedCalls: []*pb.Call{{Seq: 1, Op: &pb.Call_Syscall{Syscall: &pb.Syscall{Sysno: 2, InstallFd: &negativeFD}}}}}
	tar := &pb.ClientMessage{PostedCalls: tarCalls(page(512, 'a'))}
	shortCopy := &pb.ClientMessage{PostedCalls: tarCalls([]byte("short\n"))}
	// A ClockSample: a message field decodeCall leaves to proto.Unmarshal.
	clocks := &pb.ClientMessage{PostedCalls: []*pb.Call{{Seq: 1, Op: &pb.Call_Syscall{Syscall: &pb.Syscall{Sysno: 228, Clocks: &pb.ClockSample{}}}}}}

	// Encodings proto.Marshal does not make, but proto.Unmarshal takes.
	call := mustMarshal(t, postedWrite(1, page(4096, 'a')))
	cm := func(calls ...[]byte) []byte {
		var b []byte
		for _, c := range calls {
			b = protowire.AppendTag(b, clientMessagePostedCalls, protowire.BytesType)
			b = protowire.AppendBytes(b, c)
		}
		return b
	}
	sc := func(fields []byte) []byte {
		b := protowire.AppendTag(nil, callSeq, protowire.VarintType)
		b = protowire.AppendVarint(b, 5)
		b = protowire.AppendTag(b, callSyscall, protowire.BytesType)
		return protowire.AppendBytes(b, fields)
	}
	varint := func(b []byte, num protowire.Number, v uint64) []byte {
		return protowire.AppendVarint(protowire.AppendTag(b, num, protowire.VarintType), v)
	}
	// Unpacked arguments, a repeated sysno (the last wins), a bool of 2.
	unpacked := varint(varint(varint(varint(nil, syscallArgs, 4), syscallArgs, 5), syscallSysno, 3), syscallSysno, 1)
	unpacked = varint(unpacked, syscallPosted, 2)
	// The Syscall twice: proto merges them.
	merged := append(append([]byte(nil), call...), sc(varint(nil, syscallArgs, 8))...)
	// The posted_calls' field as a varint: an unknown field.
	wrongType := varint(cm(call), clientMessagePostedCalls, 3)
	// Two Data in one Region: the last wins.
	region := protowire.AppendBytes(protowire.AppendTag(nil, regionData, protowire.BytesType), page(1000, 'a'))
	region = protowire.AppendBytes(protowire.AppendTag(region, regionData, protowire.BytesType), []byte("short"))
	lastData := protowire.AppendBytes(protowire.AppendTag(nil, syscallInputs, protowire.BytesType), region)
	// Two leased_data (the last wins), and one present but empty.
	bytesField := func(b []byte, num protowire.Number, v []byte) []byte {
		return protowire.AppendBytes(protowire.AppendTag(b, num, protowire.BytesType), v)
	}
	lastLeased := bytesField(bytesField(nil, syscallLeasedData, []byte("first")), syscallLeasedData, page(600, 'a'))
	emptyLeased := bytesField(varint(nil, syscallSysno, 40), syscallLeasedData, nil)
	// Two install_fd (the last wins), one of more than 32 bits.
	twoFDs := varint(varint(nil, syscallInstallFd, 1<<33|4), syscallInstallFd, 6)
	// A heartbeat between two posted calls: the rest in two runs.
	hb := mustMarshal(t, &pb.ClientMessage{Msg: &pb.ClientMessage_Heartbeat{Heartbeat: &pb.Heartbeat{}}, ChannelCallFollows: true})
	split := append(append(cm(call), hb...), cm(call)...)
	split = varint(split, 544, 1)

	return []struct {
		name    string
		b       []byte
		aliased bool
		plain   int
	}{
		{"posted writes", mustMarshal(t, writes), true, 4},
		{"posted writes and a call", mustMarshal(t, withCall), true, 4},
		{"small data copied", mustMarshal(t, small), false, 2},
		{"other calls", mustMarshal(t, other), true, 1},
		{"regions", mustMarshal(t, twoRegions), true, 1},
		{"no op", mustMarshal(t, noOp), false, 0}, // by hand, but isPlain cannot tell
		{"every flag", mustMarshal(t, flags), true, 2},
		{"owned writes", mustMarshal(t, owned), true, 4},
		{"a merged write", mustMarshal(t, mergedWrite), true, 1},
		{"unpacked write parts", cm(sc(protowire.AppendBytes(protowire.AppendTag(nil, syscallWriteParts, protowire.BytesType),
			varint(varint(nil, writePartsLengths, 4096), writePartsLengths, 10)))), false, 1},
		{"empty write parts", cm(sc(protowire.AppendBytes(protowire.AppendTag(nil, syscallWriteParts, protowire.BytesType), nil))), false, 1},
		{"write parts twice", cm(sc(protowire.AppendBytes(protowire.AppendTag(protowire.AppendBytes(protowire.AppendTag(nil, syscallWriteParts, protowire.BytesType), nil), syscallWriteParts, protowire.BytesType), nil))), false, 0},
		{"install_fd", mustMarshal(t, optional), false, 1},
		{"a negative install_fd", mustMarshal(t, negative), false, 1},
		{"install_fd twice", cm(sc(twoFDs)), false, 1},
		{"a tar member's posted calls", mustMarshal(t, tar), true, len(tar.PostedCalls)},
		{"short leased data copied", mustMarshal(t, shortCopy), false, len(shortCopy.PostedCalls)},
		{"leased_data twice", cm(sc(lastLeased)), true, 1},
		{"empty leased_data", cm(sc(emptyLeased)), false, 1},
		{"a message field", mustMarshal(t, clocks), false, 0},
		{"no posted calls", hb, false, 0},
		{"empty", nil, false, 0},
		{"unpacked args", cm(sc(unpacked)), false, 1},
		{"syscall twice", cm(merged), false, 0},
		{"posted_calls as a varint", wrongType, true, 1},
		{"the last data", cm(sc(lastData)), false, 1},
		{"rest in runs", split, true, 2},
		{"truncated", cm(call)[:100], false, 0},
		{"truncated call", cm(call[:100]), false, 0},
		{"bad packed args", cm(sc(protowire.AppendBytes(protowire.AppendTag(nil, syscallArgs, protowire.BytesType), []byte{0x80}))), false, 0},
	}
}

// decodeLikeUnmarshal decodes a copy of b into got with
// decodeClientMessage and fails t unless the outcome is
// proto.Unmarshal's: the same error or none, and the same message. It
// returns the frame decoded (got may alias it), got, whether data was
// aliased, and whether b decoded.
func decodeLikeUnmarshal(t *testing.T, b []byte, got *pb.ClientMessage) ([]byte, *pb.ClientMessage, bool, bool) {
	t.Helper()
	want := new(pb.ClientMessage)
	werr := proto.Unmarshal(b, want)
	frame := append([]byte(nil), b...)
	aliased, err := decodeClientMessage(frame, got)
	if (err == nil) != (werr == nil) {
		t.Fatalf("error %v, proto.Unmarshal's %v", err, werr)
	}
	if err != nil {
		return frame, got, false, false
	}
	if !proto.Equal(got, want) {
		t.Fatalf("decoded %v, proto.Unmarshal gives %v", got, want)
	}
	return frame, got, aliased, true
}

// TestDecodeClientMessage decodes each case as proto.Unmarshal does,
// by hand where it says so, and leaves only long data in the frame.
func TestDecodeClientMessage(t *testing.T) {
	for _, tc := range decodeCases(t) {
		t.Run(tc.name, func(t *testing.T) {
			// ChannelBatches: decodeClientMessage resets first, as
			// proto.Unmarshal does.
			frame, got, aliased, ok := decodeLikeUnmarshal(t, tc.b, &pb.ClientMessage{ChannelBatches: 99})
			if !ok {
				return
			}
			if aliased != tc.aliased {
				t.Errorf("aliased %v, want %v", aliased, tc.aliased)
			}
			plain := plainCalls(got.PostedCalls)
			if plain != tc.plain {
				t.Errorf("%d calls decoded by hand, want %d", plain, tc.plain)
			}
			// Data shorter than aliasMinData is copied: the frame's
			// reuse leaves it.
			for i := range frame {
				frame[i] = 0xff
			}
			for _, c := range got.PostedCalls {
				for _, r := range c.GetSyscall().GetInputs() {
					if len(r.Data) < aliasMinData && bytes.Contains(r.Data, []byte{0xff}) {
						t.Errorf("a copied Region's data %q changed with the frame", r.Data)
					}
				}
			}
		})
	}
}

// isPlain says c, a system call's, was decoded by decodeCall: its
// Syscall is in the plainCall that holds it (addresses compared as
// integers: c may be proto.Unmarshal's, no plainCall).
// plainCalls counts the calls of calls decoded by hand (isPlain).
func plainCalls(calls []*pb.Call) int {
	n := 0
	for _, c := range calls {
		if isPlain(c) {
			n++
		}
	}
	return n
}

func isPlain(c *pb.Call) bool {
	sc := c.GetSyscall()
	return sc != nil && uintptr(unsafe.Pointer(c))+unsafe.Offsetof(plainCall{}.sc) == uintptr(unsafe.Pointer(sc))
}

// TestReadClientMessageAliases reads two frames of posted writes through
// one frameReader: the first message's data, left in its frame, stays
// its own while the second is read (the reader took a new buffer), and
// a frame without aliased data keeps the reader's buffer.
func TestReadClientMessageAliases(t *testing.T) {
	for _, tc := range []struct {
		name     string
		size     int
		keepsBuf bool
	}{
		{"4 KiB writes", 4096, false},
		{"512 B writes", aliasMinData, false},
		{"small writes", aliasMinData - 1, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var wire []byte
			var msgs []*pb.ClientMessage
			for i := range 3 {
				m := &pb.ClientMessage{PostedCalls: []*pb.Call{postedWrite(uint64(2*i+1), page(tc.size, byte('a'+i))), postedWrite(uint64(2*i+2), page(tc.size, byte('A'+i)))}}
				msgs = append(msgs, m)
				var err error
				if wire, err = appendFrame(wire, m, MaxMessageSize); err != nil {
					t.Fatal(err)
				}
			}
			fr := newFrameReader(bytes.NewReader(wire), MaxMessageSize)
			var got []*pb.ClientMessage
			for range msgs {
				m := new(pb.ClientMessage)
				if err := fr.readClientMessage(m); err != nil {
					t.Fatal(err)
				}
				if kept := cap(fr.buf) > 0; kept != tc.keepsBuf {
					t.Errorf("the reader kept its buffer: %v, want %v", kept, tc.keepsBuf)
				}
				got = append(got, m)
			}
			for i := range msgs {
				if !proto.Equal(got[i], msgs[i]) {
					t.Errorf("message %d changed after the frames after it were read", i)
				}
			}
		})
	}
}

// TestDecodeClientMessageAllocs counts the allocations of decoding a
// frame, the ClientMessage included: of 32 posted 4 KiB writes,
// proto.Unmarshal makes 7 a call (its bytes copied), decodeClientMessage
// one, and one slice for the frame; of a tar member's six posted calls
// (a creation with its install_fd, a leased copy of 512 bytes, fchown,
// fchmod, utimensat, close; 37 with proto.Unmarshal), one a call, one a
// short Region's copy (the path, the times), and the slice.
func TestDecodeClientMessageAllocs(t *testing.T) {
	writes := &pb.ClientMessage{}
	for i := range 32 {
		writes.PostedCalls = append(writes.PostedCalls, postedWrite(uint64(i+1), page(4096, 'a')))
	}
	tar := &pb.ClientMessage{PostedCalls: tarCalls(page(512, 'a'))}
	for _, tc := range []struct {
		name   string
		m      *pb.ClientMessage
		byHand bool
		max    float64
	}{
		{"32 posted writes by hand", writes, true, 34},
		{"32 posted writes, proto.Unmarshal", writes, false, 32 * 8},
		{"a tar member's calls by hand", tar, true, 10},
		{"a tar member's calls, proto.Unmarshal", tar, false, 6 * 8},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := mustMarshal(t, tc.m)
			got := testing.AllocsPerRun(50, func() {
				m := new(pb.ClientMessage)
				var err error
				if tc.byHand {
					_, err = decodeClientMessage(b, m)
				} else {
					err = proto.Unmarshal(b, m)
				}
				if err != nil {
					t.Fatal(err)
				}
			})
			t.Logf("%.0f allocations a frame", got)
			if got > tc.max {
				t.Errorf("%.0f allocations a frame, want at most %.0f", got, tc.max)
			}
		})
	}
}

// FuzzDecodeClientMessage checks decodeClientMessage against
// proto.Unmarshal: the same bytes decode to the same message, or both
// fail; and a message decoded with no data aliased does not change when
// the frame is overwritten.
func FuzzDecodeClientMessage(f *testing.F) {
	for _, tc := range decodeCases(f) {
		f.Add(tc.b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		frame, got, aliased, ok := decodeLikeUnmarshal(t, b, new(pb.ClientMessage))
		if !ok || aliased {
			return
		}
		want := proto.Clone(got)
		for i := range frame {
			frame[i] ^= 0xff
		}
		if !proto.Equal(got, want) {
			t.Fatalf("not aliased, but changed with the frame: %v", got)
		}
	})
}

// cpCalls returns a channel call as GNU cp -r's copy of a file sends it:
// the waited fstat of the new copy, carrying the previous copy's leased
// copy_file_range of data, its two closes, the next source's open and
// the copy's creating open (Call.posted_calls).
func cpCalls(data []byte) *pb.Call {
	fd, src := int32(4), int32(3)
	sc := func(seq uint64, s *pb.Syscall) *pb.Call {
		s.Posted = true
		return &pb.Call{Seq: seq, Tid: 7, Op: &pb.Call_Syscall{Syscall: s}}
	}
	return &pb.Call{Seq: 7, Tid: 7, Op: &pb.Call_Syscall{Syscall: &pb.Syscall{Sysno: 262, Args: []uint64{4, 0x7200, 0x7300, 0x1000, 0, 0},
		Inputs: []*pb.Region{{Addr: 0x7200, Data: []byte{0}}}, CallGen: 3}},
		PostedCalls: []*pb.Call{
			sc(1, &pb.Syscall{Sysno: 326, Args: []uint64{3, 0, 4, 0, uint64(len(data)), 0}, LeasedData: data, ReplyCanWait: true}),
			sc(2, &pb.Syscall{Sysno: 3, Args: []uint64{4, 0, 0, 0, 0, 0}}),
			sc(3, &pb.Syscall{Sysno: 3, Args: []uint64{3, 0, 0, 0, 0, 0}}),
			sc(4, &pb.Syscall{Sysno: 257, Args: []uint64{^uint64(99), 0x7000, 0x80000, 0, 0, 0},
				Inputs: []*pb.Region{{Addr: 0x7000, Data: []byte("/usr/include/c++/12/vector\x00")}}, InstallFd: &src, OpenDataWanted: true}),
			sc(5, &pb.Syscall{Sysno: 257, Args: []uint64{^uint64(99), 0x7100, 0x80241, 0o644, 0, 0},
				Inputs: []*pb.Region{{Addr: 0x7100, Data: []byte("t/vector\x00")}}, InstallFd: &fd, PathLeaseWanted: true}),
		}}
}

// TestDecodeChannelCall: a call channel's call with its posted calls
// (cp -r's) decodes as proto.Unmarshal decodes it, each posted call by
// hand, a long leased copy left in the buffer (aliased), with 17-18
// allocations rather than proto.Unmarshal's 40 (the waited call's own
// fields are proto.Unmarshal's: 7 of them); a call with no posted call,
// or with one decodeCall cannot take, decodes as proto.Unmarshal's too.
func TestDecodeChannelCall(t *testing.T) {
	odd := cpCalls(page(100, 'a'))
	odd.PostedCalls[1].GetSyscall().Clocks = &pb.ClockSample{Monotonic: 5}
	alone := cpCalls(nil)
	alone.PostedCalls = nil
	for _, tc := range []struct {
		name           string
		c              *pb.Call
		aliased        bool
		plain, maxHand float64
	}{
		{"cp's batch, a 20 KB copy", cpCalls(page(20000, 'a')), true, 5, 18},
		{"cp's batch, a 100 B copy", cpCalls(page(100, 'a')), false, 5, 19},
		{"a posted call not plain", odd, false, 4, 30},
		{"no posted calls", alone, false, 0, 30},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := mustMarshal(t, tc.c)
			want := new(pb.Call)
			if err := proto.Unmarshal(b, want); err != nil {
				t.Fatal(err)
			}
			got := &pb.Call{Seq: 99} // reset first, as proto.Unmarshal
			aliased, err := decodeChannelCall(append([]byte(nil), b...), got)
			if err != nil {
				t.Fatal(err)
			}
			if !proto.Equal(got, want) {
				t.Fatalf("decoded %v, proto.Unmarshal gives %v", got, want)
			}
			if aliased != tc.aliased {
				t.Errorf("aliased %v, want %v", aliased, tc.aliased)
			}
			plain := plainCalls(got.PostedCalls)
			if float64(plain) != tc.plain {
				t.Errorf("%d posted calls decoded by hand, want %.0f", plain, tc.plain)
			}
			hand := testing.AllocsPerRun(50, func() {
				if _, err := decodeChannelCall(b, new(pb.Call)); err != nil {
					t.Fatal(err)
				}
			})
			byProto := testing.AllocsPerRun(50, func() {
				if err := proto.Unmarshal(b, new(pb.Call)); err != nil {
					t.Fatal(err)
				}
			})
			t.Logf("%.0f allocations by hand, %.0f by proto.Unmarshal", hand, byProto)
			if hand > tc.maxHand {
				t.Errorf("%.0f allocations, want at most %.0f", hand, tc.maxHand)
			}
		})
	}
}
