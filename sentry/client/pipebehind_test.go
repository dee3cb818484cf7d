package client

import (
	"testing"

	pb "github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
)

func pipeEndRec(id string, kind pb.FileState_Kind, pipe uint64) *pb.StateRecord {
	return &pb.StateRecord{Key: "file/" + id, Value: &pb.StateRecord_File{File: &pb.FileState{Kind: kind, Pipe: pipe, Flags: 1}}}
}

func pipeRec(id string, noReader bool) *pb.StateRecord {
	return &pb.StateRecord{Key: "pipe/" + id, Value: &pb.StateRecord_Pipe{Pipe: &pb.PipeState{NoReader: noReader}}}
}

// TestPipeWriteTarget: a write to fd 4 (description 10, pipe 5's write
// end; fd 3 is its read end, description 11) may be posted only while
// the description is a pipe's write end held by the caller's fd table
// alone and the pipe's record does not say its readers are gone; a
// close of fd 3 waits while it may drop the pipe's last reader.
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
		{"not a pipe", with(&pb.StateRecord{Key: "file/10", Value: &pb.StateRecord_File{File: &pb.FileState{Kind: pb.FileState_GOFER, Flags: 1}}}), false, true},
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
