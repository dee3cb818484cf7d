package replaylog

import (
	"cmp"
	"math"
	"slices"
	"testing"

	"github.com/hashicorp/go-hclog"
	"golang.org/x/sys/unix"
	"google.golang.org/protobuf/proto"

	pb "github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/statekey"
)

// TestWriteRecordSize: a retained write's record size, counted from its
// fields, is the encoded size of the record it stands for.
func TestWriteRecordSize(t *testing.T) {
	for _, rw := range []retainedWrite{
		{seq: 1, file: 1, length: 1},
		{seq: 5},
		{seq: 127, file: 128, offset: 16383, length: 16384},
		{seq: math.MaxUint64, file: math.MaxUint64, offset: math.MaxInt64, length: math.MaxUint64, mapped: math.MaxUint64},
		{seq: 99, file: 3, offset: -1, length: 4096},
		{seq: 1 << 40, file: 7, offset: 1 << 50, length: 65536, mapped: 12},
	} {
		rec := rw.record()
		if got, want := rw.recordSize(), proto.Size(rec); got != want {
			t.Errorf("%+v: recordSize %d, want %d (%v)", rw, got, want, rec)
		}
		if rec.Key != statekey.Write(rw.seq).String() {
			t.Errorf("%+v: key %q", rw, rec.Key)
		}
	}
}

// packedWrite folds write seq's packed reply: n bytes of fill at offset
// of file.
func packedWrite(l *Log, seq, file uint64, offset int64, n int, fill byte) {
	data := make([]byte, n)
	for i := range data {
		data[i] = fill
	}
	call := &pb.Call{Seq: seq, Op: &pb.Call_Syscall{Syscall: &pb.Syscall{Sysno: unix.SYS_WRITE,
		Args: []uint64{3, 0x1000, uint64(n)}, Inputs: []*pb.Region{{Addr: 0x1000, Data: data}}}}}
	l.FoldReply(call, &pb.Reply{Seq: seq, Ret: int64(n), Written: &pb.PostedWrite{File: file, Offset: offset}})
}

// TestRetainedWritesByFile: each file's writes are kept in seq order
// whatever order their replies come in (another thread's, a re-sent
// call's), a Durable push drops exactly its file's writes at or below
// its seq, a write folded again replaces the first, and the structures
// a Durable push freed hold nothing of the writes they held.
func TestRetainedWritesByFile(t *testing.T) {
	type fold struct {
		seq, file uint64
		fill      byte
	}
	for _, tc := range []struct {
		name     string
		folds    []fold
		durables [][2]uint64 // file, seq
		// left are the retained writes' seqs, in order, and their
		// fills.
		left  []uint64
		fills string
	}{
		{
			name:     "in order, prefix durable",
			folds:    []fold{{1, 8, 'a'}, {2, 8, 'b'}, {3, 8, 'c'}},
			durables: [][2]uint64{{8, 2}},
			left:     []uint64{3}, fills: "c",
		},
		{
			name:     "out of order, durable between",
			folds:    []fold{{5, 8, 'e'}, {3, 8, 'c'}, {4, 9, 'd'}, {1, 8, 'a'}, {7, 8, 'g'}},
			durables: [][2]uint64{{8, 4}},
			left:     []uint64{4, 5, 7}, fills: "deg",
		},
		{
			name:     "another file's durable keeps",
			folds:    []fold{{1, 8, 'a'}, {2, 9, 'b'}},
			durables: [][2]uint64{{9, 10}},
			left:     []uint64{1}, fills: "a",
		},
		{
			name:     "folded again: the later fold's data",
			folds:    []fold{{1, 8, 'a'}, {2, 8, 'b'}, {1, 8, 'z'}},
			durables: nil,
			left:     []uint64{1, 2}, fills: "zb",
		},
		{
			name:     "all durable, then written again",
			folds:    []fold{{1, 8, 'a'}, {2, 8, 'b'}},
			durables: [][2]uint64{{8, 2}},
			left:     nil, fills: "",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := New()
			l.Fold(recFile(8, 0, "/a"), nil)
			l.Fold(recFile(9, 0, "/b"), nil)
			for _, f := range tc.folds {
				packedWrite(l, f.seq, f.file, int64(f.seq)*10, 3, f.fill)
			}
			for _, d := range tc.durables {
				l.Durable(d[0], d[1])
			}
			rws := l.RetainedWrites()
			var seqs []uint64
			var fills []byte
			for _, rw := range rws {
				seqs = append(seqs, rw.Seq)
				fills = append(fills, rw.Data[0])
				if rw.Offset != int64(rw.Seq)*10 || len(rw.Data) != 3 {
					t.Errorf("write %d: offset %d, %d bytes", rw.Seq, rw.Offset, len(rw.Data))
				}
			}
			if !slices.Equal(seqs, tc.left) || string(fills) != tc.fills {
				t.Errorf("retained %v %q, want %v %q", seqs, fills, tc.left, tc.fills)
			}
			for file, ws := range l.byFile {
				if len(ws) == 0 {
					t.Errorf("file %d kept with no writes", file)
				}
				if !slices.IsSortedFunc(ws, func(a, b *retainedWrite) int { return cmp.Compare(a.seq, b.seq) }) {
					t.Errorf("file %d's writes out of seq order", file)
				}
			}
			for _, rw := range l.freeWrites {
				if rw.seq != 0 || rw.file != 0 || rw.data != nil || rw.handle != nil || len(rw.path) != 0 || rw.pooled {
					t.Errorf("a free retained write holds %+v", *rw)
				}
			}
			// The writes' records are in the Restore, in key order.
			var keys []statekey.Key
			for _, rec := range l.RestoreRecords() {
				k, err := statekey.Parse(rec.Key)
				if err != nil {
					t.Fatal(err)
				}
				if k.Kind == statekey.KindWrite {
					keys = append(keys, k)
					if w := rec.GetWrite(); w.Seq != k.ID || w.Length != 3 || w.Offset != int64(k.ID)*10 {
						t.Errorf("record %s: %v", rec.Key, w)
					}
				}
			}
			if len(keys) != len(tc.left) {
				t.Errorf("%d write records in the Restore, want %d", len(keys), len(tc.left))
			}
			// Written again after it all: reused structures are clean.
			packedWrite(l, 100, 8, 1000, 3, 'x')
			if rw := l.Record(statekey.Write(100)).GetWrite(); rw == nil || rw.File != 8 || rw.Offset != 1000 || rw.MappedFile != 0 {
				t.Errorf("write 100's record %v", rw)
			}
			if got := l.RetainedWrites(); string(got[len(got)-1].Path) != "/a" || string(got[len(got)-1].Data) != "xxx" {
				t.Errorf("write 100 retained as %v", got[len(got)-1])
			}
		})
	}
}

// TestWriteBehindFoldAllocs: folding a write behind's packed reply and
// dropping it with a Durable push allocates nothing in the steady state
// (it made a StateRecord, its WriteState and oneof, the key's string and
// the retained write: 5 allocations a write, BenchmarkWriteBehindFold).
func TestWriteBehindFoldAllocs(t *testing.T) {
	l := New()
	apply(l, liveStateSteps())
	wb := newWriteBehind(l)
	seq := uint64(1000)
	batch := func() {
		for i := 0; i < 64; i++ {
			seq++
			wb.fold(seq, int64(seq)*4096, 0)
		}
		l.Durable(4, seq)
	}
	batch() // the pool's buffers, the structures to reuse
	if n := testing.AllocsPerRun(20, batch); n > 1 {
		t.Errorf("a batch of 64 writes behind folded and made durable allocates %.1f times, want at most once", n)
	}
	if st := l.Stats(); st.Writes != 0 || st.DataBytes != int64(len("unread")) {
		t.Errorf("%+v left, want no retained write (the Durable pushes passed them all) and the pipe's bytes", st)
	}
}

// TestWriteDone: a write a Rewrite's reply said needs no more re-sending
// is dropped alone (the file's other writes stay), also from the durable
// log, and dropping one not retained does nothing.
func TestWriteDone(t *testing.T) {
	dir := t.TempDir()
	l := New()
	d, err := OpenDurable(dir, "c", l, hclog.NewNullLogger())
	if err != nil {
		t.Fatal(err)
	}
	packedWrite(l, 10, 4, 0, 8, 'a')
	packedWrite(l, 11, 4, 8, 8, 'b')
	packedWrite(l, 12, 5, 0, 8, 'c')
	l.WriteDone(11)
	l.WriteDone(99)
	seqs := func(rws []*pb.Rewrite) []uint64 {
		var out []uint64
		for _, rw := range rws {
			out = append(out, rw.Seq)
		}
		return out
	}
	if got, want := seqs(l.RetainedWrites()), []uint64{10, 12}; !slices.Equal(got, want) {
		t.Errorf("retained after WriteDone(11): %v, want %v", got, want)
	}
	if st := l.Stats(); st.DataBytes != 16 {
		t.Errorf("retained data %d bytes, want 16", st.DataBytes)
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	ll, err := LoadLog(LogPath(dir, "c"))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := seqs(ll.Log.RetainedWrites()), []uint64{10, 12}; !slices.Equal(got, want) {
		t.Errorf("retained in the durable log: %v, want %v", got, want)
	}
}

// TestRetainedWriteIdentity: a retained write's Rewrite carries its
// file's inode number and device (FileState's, or a PageWrite's
// MappedFileState's), also once the file's record is gone (the file
// closed): without a file handle they are what tells the server that
// the file at the path is still the write's.
func TestRetainedWriteIdentity(t *testing.T) {
	for _, tc := range []struct {
		name string
		// file is the record naming the written file.
		file *pb.StateRecord
		// mapped: the write is a PageWrite of mapped file 9.
		mapped uint64
		// closed: the file's record is deleted before the recovery.
		closed bool
	}{
		{name: "open", file: &pb.StateRecord{Key: statekey.File(4).String(), Value: &pb.StateRecord_File{File: &pb.FileState{
			Id: 4, Kind: pb.FileState_GOFER, Path: []byte("/f"), Ino: 42, Dev: 0x803}}}},
		{name: "closed", closed: true, file: &pb.StateRecord{Key: statekey.File(4).String(), Value: &pb.StateRecord_File{File: &pb.FileState{
			Id: 4, Kind: pb.FileState_GOFER, Path: []byte("/f"), Ino: 42, Dev: 0x803}}}},
		{name: "mapped", mapped: 9, file: &pb.StateRecord{Key: statekey.Mapped(9).String(), Value: &pb.StateRecord_Mapped{Mapped: &pb.MappedFileState{
			FileId: 9, Path: []byte("/f"), Ino: 42, Dev: 0x803}}}},
		{name: "mapped-unmapped", mapped: 9, closed: true, file: &pb.StateRecord{Key: statekey.Mapped(9).String(), Value: &pb.StateRecord_Mapped{Mapped: &pb.MappedFileState{
			FileId: 9, Path: []byte("/f"), Ino: 42, Dev: 0x803}}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := New()
			l.Fold(tc.file, nil)
			l.Fold(&pb.StateRecord{Key: statekey.Write(10).String(), Value: &pb.StateRecord_Write{Write: &pb.WriteState{
				Seq: 10, File: 4, Length: 4, MappedFile: tc.mapped}}}, []byte("data"))
			if tc.closed {
				l.Fold(&pb.StateRecord{Key: tc.file.Key, Deleted: true}, nil)
			}
			rws := l.RetainedWrites()
			if len(rws) != 1 {
				t.Fatalf("%d retained writes, want 1", len(rws))
			}
			if rw := rws[0]; rw.Ino != 42 || rw.Dev != 0x803 || string(rw.Path) != "/f" {
				t.Errorf("Rewrite of inode %d, device %#x, path %q; want 42, 0x803, /f", rw.Ino, rw.Dev, rw.Path)
			}
		})
	}
}

// TestRetainedWriteOverlap: where a retained write and a later one of
// the same thread to the same file (its inode and device, through any
// description; the description alone without them) overlap, the earlier
// one's retained bytes are the later one's, and one the later covers
// whole is dropped: a Rewrite of the earlier write after the later was
// made durable (the earlier's Rewrite having failed at a recovery) does
// not put its older bytes back over it. Also when the replies come out
// of seq order, and in the durable log; the call's own bytes are not
// changed; writes to another file, or to the same inode number on
// another device, are left alone, and so are two threads' writes (or
// one whose thread is not known) unless the later one's seq was given
// after the earlier one's reply came (above its horizon).
func TestRetainedWriteOverlap(t *testing.T) {
	dir := t.TempDir()
	l := New()
	// issued is the client's last seq given as each write is folded:
	// high, unless a case says otherwise, so that two threads' writes
	// were in flight together.
	issued := uint64(1000)
	l.SetIssued(func() uint64 { return issued })
	file := func(id, ino, dev uint64) {
		l.Fold(&pb.StateRecord{Key: statekey.File(id).String(), Value: &pb.StateRecord_File{File: &pb.FileState{
			Id: id, Kind: pb.FileState_GOFER, Path: []byte("/f"), Ino: ino, Dev: dev}}}, nil)
	}
	file(3, 42, 0x803)
	file(4, 42, 0x803) // the same file, another description
	file(5, 42, 0x803)
	file(6, 43, 0x803) // another file
	file(7, 42, 0x804) // another device
	file(8, 0, 0)      // no inode number: the description alone
	file(9, 0, 0)
	write := func(seq, file uint64, off int64, s string) []byte {
		data := []byte(s)
		tid := int32(1)
		switch {
		case seq >= 60 && seq < 70:
			tid = 2
		case seq >= 80:
			tid = int32(seq) // each its own thread
		}
		call := &pb.Call{Seq: seq, Tid: tid, Op: &pb.Call_Syscall{Syscall: &pb.Syscall{Sysno: unix.SYS_WRITE,
			Args: []uint64{3, 0x1000, uint64(len(data))}, Inputs: []*pb.Region{{Addr: 0x1000, Data: data}}}}}
		l.FoldReply(call, &pb.Reply{Seq: seq, Ret: int64(len(data)), Written: &pb.PostedWrite{File: file, Offset: off}})
		return data
	}
	// The case of the stale bytes: 10's Rewrite failed, 20 (another
	// description) is made durable; 10 must not bring back its "a"s.
	// 10's description is closed before the durable log's first
	// snapshot: that holds 10 with no file record, so a reload cannot
	// find 20's file in it, and must read 10's new bytes from the log.
	own := write(10, 3, 0, "aaaaaaaa")
	l.Fold(&pb.StateRecord{Key: statekey.File(3).String(), Deleted: true}, nil)
	d, err := OpenDurable(dir, "c", l, hclog.NewNullLogger())
	if err != nil {
		t.Fatal(err)
	}
	write(20, 5, 4, "bbbbbbbb")
	l.Durable(5, 20)
	write(11, 6, 0, "cccc")   // another file
	write(12, 7, 0, "dddd")   // another device
	write(30, 4, 100, "eeee") // covered whole by 31 (the same description)
	write(31, 4, 98, "ffffffff")
	write(41, 5, 204, "hh") // folded before the earlier 40 (another thread's)
	write(40, 4, 200, "gggggggg")
	write(50, 8, 300, "iiiiiiii")
	write(51, 8, 302, "jj") // the middle of 50, the same description
	write(52, 9, 300, "kk") // another description, no inode number
	// Another thread's (tid 2) writes: their seqs do not order them
	// with thread 1's.
	write(60, 4, 400, "llll")
	write(61, 5, 400, "mm")     // thread 2 again: in order
	write(70, 4, 398, "nnnnnn") // thread 1 after thread 2
	// A write from a push (a StateUpdate): no thread known.
	l.Fold(&pb.StateRecord{Key: statekey.Write(71).String(), Value: &pb.StateRecord_Write{Write: &pb.WriteState{
		Seq: 71, File: 4, Offset: 398, Length: 6}}}, []byte("oooooo"))
	// Other threads' writes given their seqs after a write's reply came
	// (above its horizon) were made after it; one given its seq before
	// (in flight together) is left alone.
	issued = 80
	write(80, 4, 500, "pppp")
	write(81, 5, 502, "qqqq") // after 80's reply: 80 gets "qq"
	issued = 86
	write(85, 4, 600, "rrrr")
	write(86, 5, 602, "ss") // in flight with 85
	// A write whose thread is not known (a push's) is ordered by its
	// horizon too.
	issued = 90
	l.Fold(&pb.StateRecord{Key: statekey.Write(90).String(), Value: &pb.StateRecord_Write{Write: &pb.WriteState{
		Seq: 90, File: 4, Offset: 700, Length: 4}}}, []byte("tttt"))
	write(91, 5, 698, "uuuu")
	want := map[uint64]string{10: "aaaabbbb", 11: "cccc", 12: "dddd", 31: "ffffffff", 40: "gggghhgg", 41: "hh",
		50: "iijjiiii", 51: "jj", 52: "kk", 60: "mmll", 61: "mm", 70: "nnnnnn", 71: "oooooo",
		80: "ppqq", 81: "qqqq", 85: "rrrr", 86: "ss", 90: "uutt", 91: "uuuu"}
	check := func(what string, l *Log) {
		t.Helper()
		got := make(map[uint64]string)
		for _, rw := range l.RetainedWrites() {
			got[rw.Seq] = string(rw.Data)
		}
		for seq, w := range want {
			if got[seq] != w {
				t.Errorf("%s: write %d retains %q, want %q", what, seq, got[seq], w)
			}
		}
		for seq, g := range got {
			if _, ok := want[seq]; !ok {
				t.Errorf("%s: write %d retained (%q), want it dropped", what, seq, g)
			}
		}
	}
	check("live", l)
	if string(own) != "aaaaaaaa" {
		t.Errorf("the call's own bytes became %q", own)
	}
	// A write patched before is patched in place, and a Rewrite made of
	// it before keeps its bytes.
	var sent *pb.Rewrite
	for _, rw := range l.RetainedWrites() {
		if rw.Seq == 50 {
			sent = rw
		}
	}
	buf := &l.writes[50].data[0]
	write(53, 8, 306, "xx")
	want[50], want[53] = "iijjiixx", "xx"
	check("patched again", l)
	if &l.writes[50].data[0] != buf {
		t.Error("write 50 was copied again to be patched again")
	}
	if string(sent.Data) != "iijjiiii" {
		t.Errorf("a Rewrite of write 50 made before it was patched again carries %q", sent.Data)
	}
	if want := 8 + 4 + 4 + 8 + 8 + 2 + 8 + 2 + 2 + 4 + 2 + 6 + 6 + 4 + 4 + 4 + 2 + 4 + 4 + 2; l.Stats().DataBytes != int64(want) {
		t.Errorf("retained data %d bytes, want %d", l.Stats().DataBytes, want)
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	ll, err := LoadLog(LogPath(dir, "c"))
	if err != nil {
		t.Fatal(err)
	}
	check("durable log", ll.Log)
}

// TestDurableHeld: a Durable push drops its file's writes at or below its
// seq but those it holds (Durable.held: their Rewrite failed), and a held
// write gets the bytes of the dropped writes after it where they overlap,
// as the file has them (the server made those after the failed Rewrite),
// also when nothing told their order at the fold (no thread, no horizon:
// writes read back from the durable log). The durable log keeps the held
// writes and their new bytes.
func TestDurableHeld(t *testing.T) {
	type write struct {
		seq  uint64
		off  int64
		data string
	}
	for _, tc := range []struct {
		name   string
		writes []write
		seq    uint64
		held   []uint64
		// left are the writes retained after the push, with their bytes.
		left []write
	}{
		{"held kept, others dropped", []write{{10, 0, "aaaa"}, {11, 10, "bb"}, {12, 20, "cc"}}, 12, []uint64{10},
			[]write{{10, 0, "aaaa"}}},
		{"held without held", []write{{10, 0, "aaaa"}, {11, 10, "bb"}}, 11, nil, nil},
		{"a later write above the push's seq stays", []write{{10, 0, "aaaa"}, {11, 10, "bb"}, {12, 20, "cc"}}, 11, []uint64{10},
			[]write{{10, 0, "aaaa"}, {12, 20, "cc"}}},
		{"patched where a dropped later write overlaps", []write{{10, 0, "aaaaaaaa"}, {11, 2, "bb"}, {12, 6, "cccc"}}, 12, []uint64{10},
			[]write{{10, 0, "aabbaacc"}}},
		{"covered whole by a dropped later write: kept with its bytes", []write{{10, 2, "aaaa"}, {11, 0, "bbbbbbbb"}}, 11, []uint64{10},
			[]write{{10, 2, "bbbb"}}},
		{"two held, each patched where a dropped one overlaps it", []write{{10, 0, "aaaa"}, {11, 2, "bbbb"}, {12, 0, "cc"}}, 12, []uint64{10, 11},
			[]write{{10, 0, "ccaa"}, {11, 2, "bbbb"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			l := New()
			d, err := OpenDurable(dir, "c", l, hclog.NewNullLogger())
			if err != nil {
				t.Fatal(err)
			}
			l.Fold(&pb.StateRecord{Key: statekey.File(3).String(), Value: &pb.StateRecord_File{File: &pb.FileState{
				Id: 3, Kind: pb.FileState_GOFER, Path: []byte("/f"), Ino: 42, Dev: 0x803}}}, nil)
			for _, w := range tc.writes {
				l.Fold(&pb.StateRecord{Key: statekey.Write(w.seq).String(), Value: &pb.StateRecord_Write{Write: &pb.WriteState{
					Seq: w.seq, File: 3, Offset: w.off, Length: uint64(len(w.data))}}}, []byte(w.data))
			}
			l.FoldPush(&pb.Push{Msg: &pb.Push_Durable{Durable: &pb.Durable{File: 3, Seq: tc.seq, Held: tc.held}}})
			if err := d.Close(); err != nil {
				t.Fatal(err)
			}
			ll, err := LoadLog(LogPath(dir, "c"))
			if err != nil {
				t.Fatal(err)
			}
			for name, log := range map[string]*Log{"live": l, "reloaded": ll.Log} {
				var got []write
				for _, rw := range log.RetainedWrites() {
					got = append(got, write{rw.Seq, rw.Offset, string(rw.Data)})
				}
				slices.SortFunc(got, func(a, b write) int { return cmp.Compare(a.seq, b.seq) })
				if !slices.Equal(got, tc.left) {
					t.Errorf("%s: retained %v, want %v", name, got, tc.left)
				}
			}
		})
	}
}
