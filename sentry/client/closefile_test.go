package client

import (
	"testing"

	pb "github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/client/replaylog"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/statekey"
)

// TestCloseFileOf: a close names the description its fd holds
// (Syscall.close_file) from the client's copy of the table, or, where the
// copy leaves the fd out, from the replay log's record of it; never a
// posted open's provisional one, nor the log's while a posted call that
// changes the fd is in flight.
func TestCloseFileOf(t *testing.T) {
	const pid, table, fd = 7, 70, 5
	for _, tc := range []struct {
		name   string
		copied uint64 // the copy's description at fd (0: none)
		logged uint64 // the log's (0: none)
		noIDs  bool   // the process's ids not known
		posted bool   // a posted call that changes the fd in flight
		want   uint64
	}{
		{name: "copy", copied: 41, logged: 40, want: 41},
		{name: "log", logged: 40, want: 40},
		{name: "neither", want: 0},
		{name: "provisional", copied: provisionalDesc | 3, logged: 40, want: 0},
		{name: "table not known", logged: 40, noIDs: true, want: 0},
		{name: "log, the fd changing", logged: 40, posted: true, want: 0},
		{name: "copy, the fd changing", copied: 41, logged: 40, posted: true, want: 41},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := &client{rl: replaylog.New()}
			if !tc.noIDs {
				c.ids.byPID = map[int32]procIDs{pid: {fdTable: table}}
			}
			if tc.copied != 0 {
				c.ids.openFDs = map[uint64]map[int32]uint64{table: {fd: tc.copied}}
			}
			if tc.posted {
				c.ids.postedFD(table, fd, 1)
			}
			if tc.logged != 0 {
				c.rl.Fold(&pb.StateRecord{Key: statekey.FD(table, fd).String(), Value: &pb.StateRecord_Fd{Fd: &pb.FdState{FdTable: table, Fd: fd, File: tc.logged}}}, nil)
			}
			tk := &task{c: c, tid: pid, proc: &process{pid: pid}}
			if got := tk.closeFileOf(fd); got != tc.want {
				t.Errorf("closeFileOf(%d) = %d, want %d", fd, got, tc.want)
			}
		})
	}
}

// TestFdRecordsText: the trace log's text of a message's fd records.
func TestFdRecordsText(t *testing.T) {
	recs := []*pb.StateRecord{
		{Key: statekey.FD(70, 5).String(), Value: &pb.StateRecord_Fd{Fd: &pb.FdState{FdTable: 70, Fd: 5, File: 41}}},
		{Key: statekey.File(41).String()},
		{Key: statekey.FD(70, 6).String(), Deleted: true},
		{Key: "not a key"},
	}
	want := " " + statekey.FD(70, 5).String() + "=41 " + statekey.FD(70, 6).String() + "=deleted"
	if got := fdRecordsText(recs); got != want {
		t.Errorf("fdRecordsText = %q, want %q", got, want)
	}
}
