package client

import (
	"slices"
	"testing"

	"golang.org/x/sys/unix"

	pb "github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
)

func pipeEndRec(id string, kind pb.FileState_Kind, pipe uint64) *pb.StateRecord {
	flags := uint32(unix.O_RDONLY)
	if kind == pb.FileState_PIPE_WRITE {
		flags = unix.O_WRONLY
	}
	return &pb.StateRecord{Key: "file/" + id, Value: &pb.StateRecord_File{File: &pb.FileState{Kind: kind, Pipe: pipe, Flags: flags}}}
}

func pipeRec(id string, noReader bool) *pb.StateRecord {
	return &pb.StateRecord{Key: "pipe/" + id, Value: &pb.StateRecord_Pipe{Pipe: &pb.PipeState{NoReader: noReader}}}
}

// TestPipeWriteTarget: a write to fd 4 (description 10, pipe 5's write
// end; fd 3 is its read end, description 11) may be posted only while
// the description is a pipe's write end held by the caller's fd table
// alone and the pipe's record does not say its readers are gone; a
// close of fd 3 waits while it may drop the pipe's last reader and a
// write end of that pipe has room (the room is description 10's).
func TestPipeWriteTarget(t *testing.T) {
	self := procRec("7", &pb.ProcessState{Pid: 7, FdTable: 1})
	base := []*pb.StateRecord{self, fdRec("1/4", 10), fdRec("1/3", 11),
		pipeEndRec("10", pb.FileState_PIPE_WRITE, 5), pipeEndRec("11", pb.FileState_PIPE_READ, 5)}
	with := func(recs ...*pb.StateRecord) []*pb.StateRecord {
		return append(append([]*pb.StateRecord(nil), base...), recs...)
	}
	for _, tc := range []struct {
		name string
		recs []*pb.StateRecord
		// wantPost says a write to fd 4 may be posted, wantLast that
		// a close of fd 3 may drop the last reader.
		wantPost, wantLast bool
	}{
		{"sole writer", base, true, true},
		{"reader held by another table too", with(fdRec("2/0", 11)), true, false},
		{"reader dup'ed in the table", with(fdRec("1/0", 11)), true, false},
		{"writer held by another table", with(fdRec("2/1", 10)), false, true},
		{"writer's table shared", with(procRec("8", &pb.ProcessState{Pid: 8, FdTable: 1})), false, true},
		{"no reader", with(pipeRec("5", true)), false, true},
		{"a reader again", with(pipeRec("5", true), pipeRec("5", false)), true, true},
		{"pipe record deleted", with(pipeRec("5", true), &pb.StateRecord{Key: "pipe/5", Deleted: true}), true, true},
		// The room is a file's, not pipe 5's write end's.
		{"not a pipe", with(&pb.StateRecord{Key: "file/10", Value: &pb.StateRecord_File{File: &pb.FileState{Kind: pb.FileState_GOFER, Flags: 1}}}), false, false},
		// The room is another pipe's: no write to pipe 5 is posted.
		{"room on another pipe", with(pipeEndRec("10", pb.FileState_PIPE_WRITE, 6)), true, false},
		{"fd closed", with(&pb.StateRecord{Key: "fdt/1/4", Deleted: true}), false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := &client{}
			c.ids.observe(tc.recs)
			c.pipe.observe(tc.recs)
			c.pipeRooms.set(10, 1000)
			tk := &task{c: c, proc: &process{pid: 7}}
			if _, got := tk.pipeWriteTarget(4); got != tc.wantPost {
				t.Errorf("pipeWriteTarget(4) = %v, want %v", got, tc.wantPost)
			}
			if got := tk.closesLastPipeReader(3); got != tc.wantLast {
				t.Errorf("closesLastPipeReader(3) = %v, want %v", got, tc.wantLast)
			}
		})
	}
}

// TestPipeWriteDone: a posted write's reply renews the room (less the
// writes posted since), a failed one (EPIPE) takes it away.
func TestPipeWriteDone(t *testing.T) {
	c := &client{}
	tk := &task{c: c}
	pr := &c.pipeRooms
	pr.set(10, 3000)
	for range 2 {
		if !pr.take(10, 1000) {
			t.Fatal("take within the room failed")
		}
	}
	tk.pipeWriteDone(10, 1000)(&pb.Reply{Ret: 1000, PipeRoom: 8000})
	if got := pr.room[10]; got != 7000 {
		t.Errorf("room %d after the first reply, want 8000 less the 1000 posted since", got)
	}
	tk.pipeWriteDone(10, 1000)(&pb.Reply{Errno: 32})
	if pr.any() {
		t.Errorf("room %d after EPIPE, want none", pr.room[10])
	}
}

// TestPipeAheadCopies: a read of fd 3 (description 11, pipe 5's read
// end) asks for a copy ahead only while its process alone holds the
// description; any read-family call forwarded for a description of pipe
// 5 (fd 3's own, or fd 7's: description 12, another read end of pipe 5)
// drops the pipe's copies, and leaves those of other pipes (description
// 13, pipe 6); a copy whose description is gone is forgotten when the
// next one is kept.
func TestPipeAheadCopies(t *testing.T) {
	self := procRec("7", &pb.ProcessState{Pid: 7, FdTable: 1})
	recs := []*pb.StateRecord{self, fdRec("1/3", 11), fdRec("1/7", 12), fdRec("1/8", 13),
		pipeEndRec("11", pb.FileState_PIPE_READ, 5), pipeEndRec("12", pb.FileState_PIPE_READ, 5), pipeEndRec("13", pb.FileState_PIPE_READ, 6)}
	for _, tc := range []struct {
		name  string
		more  []*pb.StateRecord
		sysno uintptr
		fd    int32
		// wantAsk is the description whose copy the call asks for (0:
		// none); wantLeft the descriptions whose copies stay.
		wantAsk  uint64
		wantLeft []uint64
	}{
		{"read of fd 3", nil, unix.SYS_READ, 3, 11, []uint64{13}},
		{"readv of fd 3", nil, unix.SYS_READV, 3, 0, []uint64{13}},
		{"splice from fd 7", nil, unix.SYS_SPLICE, 7, 0, []uint64{13}},
		{"read of fd 8", nil, unix.SYS_READ, 8, 13, []uint64{11, 12}},
		{"write to fd 3", nil, unix.SYS_WRITE, 3, 0, []uint64{11, 12, 13}},
		{"description shared with another table", []*pb.StateRecord{fdRec("2/0", 11)}, unix.SYS_READ, 3, 0, []uint64{13}},
		{"unknown fd", nil, unix.SYS_READ, 9, 0, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := &client{}
			all := append(append([]*pb.StateRecord(nil), recs...), tc.more...)
			c.ids.observe(all)
			c.pipe.observe(all)
			tk := &task{c: c, proc: &process{pid: 7, threads: map[int32]*task{7: nil}}}
			c.pipeAhead.copies = map[uint64]aheadCopy{11: {pipe: 5, data: []byte("a")}, 12: {pipe: 5, data: []byte("b")}, 13: {pipe: 6, data: []byte("c")}}
			var args [6]uint64
			args[0] = uint64(tc.fd)
			if got := tk.beforePipeRead(tc.sysno, args); got != tc.wantAsk {
				t.Errorf("asks for the copy of %d, want %d", got, tc.wantAsk)
			}
			var left []uint64
			for _, d := range []uint64{11, 12, 13} {
				if _, ok := c.pipeAhead.copies[d]; ok {
					left = append(left, d)
				}
			}
			if !slices.Equal(left, tc.wantLeft) {
				t.Errorf("copies left %v, want %v", left, tc.wantLeft)
			}
		})
	}
	t.Run("a write marks its pipe's copies", func(t *testing.T) {
		for _, tc := range []struct {
			name  string
			sysno uintptr
			args  [6]uint64
			// wantMore are the descriptions whose copies may no
			// longer be all their pipe holds.
			wantMore []uint64
		}{
			{"write to pipe 5's write end", unix.SYS_WRITE, [6]uint64{4}, []uint64{11, 12}},
			{"splice into pipe 5", unix.SYS_SPLICE, [6]uint64{9, 0, 4}, []uint64{11, 12}},
			{"write to an unknown fd", unix.SYS_WRITE, [6]uint64{9}, []uint64{11, 12, 13}},
			{"read of pipe 5", unix.SYS_READ, [6]uint64{3}, nil},
		} {
			t.Run(tc.name, func(t *testing.T) {
				c := &client{}
				all := append(append([]*pb.StateRecord(nil), recs...), fdRec("1/4", 14), pipeEndRec("14", pb.FileState_PIPE_WRITE, 5))
				c.ids.observe(all)
				c.pipe.observe(all)
				tk := &task{c: c, proc: &process{pid: 7, threads: map[int32]*task{7: nil}}}
				c.pipeAhead.copies = map[uint64]aheadCopy{11: {pipe: 5, data: []byte("a")}, 12: {pipe: 5, data: []byte("b")}, 13: {pipe: 6, data: []byte("c")}}
				tk.notePipeWrite(tc.sysno, tc.args)
				var more []uint64
				for _, d := range []uint64{11, 12, 13} {
					if c.pipeAhead.copies[d].more {
						more = append(more, d)
					}
				}
				if !slices.Equal(more, tc.wantMore) {
					t.Errorf("copies marked %v, want %v", more, tc.wantMore)
				}
			})
		}
	})
	t.Run("kept, forgetting closed descriptions'", func(t *testing.T) {
		c := &client{}
		c.ids.observe(recs)
		c.pipe.observe(recs)
		c.pipe.observe([]*pb.StateRecord{{Key: "file/12", Deleted: true}})
		tk := &task{c: c, proc: &process{pid: 7}}
		c.pipeAhead.copies = map[uint64]aheadCopy{12: {pipe: 5, data: []byte("b")}}
		tk.keepPipeAhead(11, &pb.Reply{Ret: 1, PipeAhead: []byte("xyz")})
		if len(c.pipeAhead.copies) != 1 || string(c.pipeAhead.copies[11].data) != "xyz" || c.pipeAhead.copies[11].pipe != 5 {
			t.Errorf("copies %v, want only 11's of pipe 5", c.pipeAhead.copies)
		}
	})
}
