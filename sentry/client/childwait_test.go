package client

import (
	"testing"

	"golang.org/x/sys/unix"

	pb "github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
)

// TestWaitNoChildReady: wait4 with WNOHANG alone is answered 0 on the
// client exactly when the records show the caller a child it may wait
// for and none exited, no exit is posted without its record, and no
// ptrace is in use; everything else is forwarded.
func TestWaitNoChildReady(t *testing.T) {
	const sigchld = int32(unix.SIGCHLD)
	self := procRec("10", &pb.ProcessState{Pid: 10, Ppid: 1, ExitSignal: sigchld})
	running := func(pid string, ppid int32) *pb.StateRecord {
		return procRec(pid, &pb.ProcessState{Ppid: ppid, ExitSignal: sigchld})
	}
	zombie := func(pid string, ppid int32) *pb.StateRecord {
		return procRec(pid, &pb.ProcessState{Ppid: ppid, ExitSignal: sigchld, Zombie: true})
	}
	const any = -1
	for _, tc := range []struct {
		name    string
		recs    []*pb.StateRecord
		posted  []int32 // exit_groups posted, in order, before the last records
		after   []*pb.StateRecord
		ptrace  bool
		pid     int64
		options uint64
		want    bool
	}{
		{name: "a running child", recs: []*pb.StateRecord{self, running("11", 10)}, pid: any, options: unix.WNOHANG, want: true},
		{name: "that child by pid", recs: []*pb.StateRecord{self, running("11", 10)}, pid: 11, options: unix.WNOHANG, want: true},
		{name: "another pid", recs: []*pb.StateRecord{self, running("11", 10)}, pid: 12, options: unix.WNOHANG},
		{name: "no child: ECHILD is the server's", recs: []*pb.StateRecord{self, running("11", 1)}, pid: any, options: unix.WNOHANG},
		{name: "a zombie child", recs: []*pb.StateRecord{self, running("11", 10), zombie("12", 10)}, pid: any, options: unix.WNOHANG},
		{name: "a zombie child, another waited for", recs: []*pb.StateRecord{self, running("11", 10), zombie("12", 10)}, pid: 11, options: unix.WNOHANG, want: true},
		{name: "a reaped child", recs: []*pb.StateRecord{self, running("11", 10), running("12", 10), {Key: "proc/12", Deleted: true}}, pid: any, options: unix.WNOHANG, want: true},
		{name: "a clone child only", recs: []*pb.StateRecord{self, procRec("11", &pb.ProcessState{Ppid: 10})}, pid: any, options: unix.WNOHANG},
		{name: "a zombie clone child beside a running one", recs: []*pb.StateRecord{self, running("11", 10), procRec("12", &pb.ProcessState{Ppid: 10, Zombie: true})}, pid: any, options: unix.WNOHANG, want: true},
		{name: "the caller not recorded", recs: []*pb.StateRecord{running("11", 10)}, pid: any, options: unix.WNOHANG},
		{name: "blocking", recs: []*pb.StateRecord{self, running("11", 10)}, pid: any, options: 0},
		{name: "WUNTRACED", recs: []*pb.StateRecord{self, running("11", 10)}, pid: any, options: unix.WNOHANG | unix.WUNTRACED},
		{name: "WCONTINUED", recs: []*pb.StateRecord{self, running("11", 10)}, pid: any, options: unix.WNOHANG | unix.WCONTINUED},
		{name: "__WALL", recs: []*pb.StateRecord{self, running("11", 10)}, pid: any, options: unix.WNOHANG | unix.WALL},
		{name: "own process group", recs: []*pb.StateRecord{self, running("11", 10)}, pid: 0, options: unix.WNOHANG},
		{name: "a process group", recs: []*pb.StateRecord{self, running("11", 10)}, pid: -11, options: unix.WNOHANG},
		{name: "ptrace in use", recs: []*pb.StateRecord{self, running("11", 10)}, ptrace: true, pid: any, options: unix.WNOHANG},
		{name: "a child's exit posted", recs: []*pb.StateRecord{self, running("11", 10)}, posted: []int32{11}, pid: any, options: unix.WNOHANG},
		{name: "another process's exit posted", recs: []*pb.StateRecord{self, running("11", 10), running("20", 1)}, posted: []int32{20}, pid: any, options: unix.WNOHANG},
		{name: "a posted exit, then its zombie record", recs: []*pb.StateRecord{self, running("11", 10), running("20", 1)}, posted: []int32{20},
			after: []*pb.StateRecord{zombie("20", 1)}, pid: any, options: unix.WNOHANG, want: true},
		{name: "a posted exit, then its reaped record", recs: []*pb.StateRecord{self, running("11", 10), running("20", 1)}, posted: []int32{20},
			after: []*pb.StateRecord{{Key: "proc/20", Deleted: true}}, pid: any, options: unix.WNOHANG, want: true},
		{name: "a posted exit, then a running record", recs: []*pb.StateRecord{self, running("11", 10), running("20", 1)}, posted: []int32{20},
			after: []*pb.StateRecord{running("20", 1)}, pid: any, options: unix.WNOHANG},
		{name: "a posted exit that could not be posted", recs: []*pb.StateRecord{self, running("11", 10), running("20", 1)}, posted: []int32{20, -20}, pid: any, options: unix.WNOHANG, want: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := &client{}
			c.ids.observe(tc.recs)
			for _, pid := range tc.posted {
				c.ids.exitPosted(max(pid, -pid), pid > 0)
			}
			c.ids.observe(tc.after)
			c.ptraceUsed.Store(tc.ptrace)
			tk := &task{c: c, tid: 10, proc: &process{pid: 10}}
			got := tk.waitNoChildReady([6]uint64{uint64(tc.pid), 0x7000, tc.options})
			if got != tc.want {
				t.Errorf("waitNoChildReady(%#x, %#x) = %v, want %v", tc.pid, tc.options, got, tc.want)
			}
			if got != tk.cached {
				t.Errorf("cached = %v after answering %v", tk.cached, got)
			}
		})
	}
}
