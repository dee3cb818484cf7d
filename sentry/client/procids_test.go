package client

import (
	"testing"

	"google.golang.org/protobuf/proto"

	pb "github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
)

func procRec(pid string, st *pb.ProcessState) *pb.StateRecord {
	return &pb.StateRecord{Key: "proc/" + pid, Value: &pb.StateRecord_Process{Process: st}}
}

// TestProcIDCacheObserve: the cache follows the last record of each
// process, forgets deleted ones and ignores other and malformed keys.
func TestProcIDCacheObserve(t *testing.T) {
	type want struct {
		pid   int32
		known bool
		ids   procIDs
	}
	for _, tc := range []struct {
		name  string
		recs  [][]*pb.StateRecord
		wants []want
	}{
		{"first record", [][]*pb.StateRecord{{procRec("7", &pb.ProcessState{Pid: 7, Ppid: 1, Pgid: 7, Sid: 1, Ruid: 5, Euid: 6, Rgid: 8, Egid: 9})}},
			[]want{{7, true, procIDs{ppid: 1, pgid: 7, sid: 1, ruid: 5, euid: 6, rgid: 8, egid: 9}}, {8, false, procIDs{}}}},
		{"later record wins", [][]*pb.StateRecord{
			{procRec("7", &pb.ProcessState{Pid: 7, Ppid: 3, Pgid: 3, Sid: 3})},
			{procRec("7", &pb.ProcessState{Pid: 7, Ppid: 1, Pgid: 7, Sid: 7})}},
			[]want{{7, true, procIDs{ppid: 1, pgid: 7, sid: 7}}}},
		{"saved and fs ids", [][]*pb.StateRecord{{procRec("7", &pb.ProcessState{Pid: 7, Suid: 4, Sgid: 5, Fsuid: proto.Uint32(0)})}},
			[]want{{7, true, procIDs{suid: 4, sgid: 5, fsuidOwn: true}}}},
		{"deleted", [][]*pb.StateRecord{
			{procRec("7", &pb.ProcessState{Pid: 7, Ppid: 1})},
			{{Key: "proc/7", Deleted: true}}},
			[]want{{7, false, procIDs{}}}},
		{"other and malformed keys", [][]*pb.StateRecord{{
			{Key: "thread/7", Value: &pb.StateRecord_Thread{Thread: &pb.ThreadState{Tid: 7, Pid: 7}}},
			procRec("x", &pb.ProcessState{Ppid: 1}),
			procRec("99999999999", &pb.ProcessState{Ppid: 1}),
			{Key: "proc/9"},
			nil,
		}}, []want{{7, false, procIDs{}}, {9, false, procIDs{}}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var c procIDCache
			for _, recs := range tc.recs {
				c.observe(recs)
			}
			for _, w := range tc.wants {
				ids, ok := c.get(w.pid)
				if ok != w.known || ids != w.ids {
					t.Errorf("pid %d: %+v %v, want %+v %v", w.pid, ids, ok, w.ids, w.known)
				}
			}
		})
	}
}

func fdRec(key string, file uint64) *pb.StateRecord {
	return &pb.StateRecord{Key: "fdt/" + key, Value: &pb.StateRecord_Fd{Fd: &pb.FdState{File: file}}}
}

func lockRec(ino string, holders ...*pb.HeldLock) *pb.StateRecord {
	return &pb.StateRecord{Key: "lock/" + ino, Value: &pb.StateRecord_Lock{Lock: &pb.LockState{Locks: holders}}}
}

// TestTakeFD: a close may be pipelined only for an fd the records name,
// in a table no other process shares, that releases no lock; a taken fd
// is forgotten.
func TestTakeFD(t *testing.T) {
	self := procRec("7", &pb.ProcessState{Pid: 7, FdTable: 1})
	for _, tc := range []struct {
		name string
		recs []*pb.StateRecord
		fd   int32
		want bool
	}{
		{"open fd", []*pb.StateRecord{self, fdRec("1/3", 10)}, 3, true},
		{"unknown fd", []*pb.StateRecord{self, fdRec("1/3", 10)}, 4, false},
		{"closed fd", []*pb.StateRecord{self, fdRec("1/3", 10), {Key: "fdt/1/3", Deleted: true}}, 3, false},
		{"other table's fd", []*pb.StateRecord{self, fdRec("2/3", 10)}, 3, false},
		{"unknown process", []*pb.StateRecord{fdRec("1/3", 10)}, 3, false},
		{"shared table", []*pb.StateRecord{self, procRec("8", &pb.ProcessState{Pid: 8, FdTable: 1}), fdRec("1/3", 10)}, 3, false},
		{"record lock of the process", []*pb.StateRecord{self, fdRec("1/3", 10), lockRec("5", &pb.HeldLock{FdTable: 1, File: 11})}, 3, false},
		{"flock of the description", []*pb.StateRecord{self, fdRec("1/3", 10), lockRec("5", &pb.HeldLock{FdTable: 2, File: 10, Flock: true})}, 3, false},
		{"others' lock", []*pb.StateRecord{self, fdRec("1/3", 10), lockRec("5", &pb.HeldLock{FdTable: 2, File: 11})}, 3, true},
		{"lock released", []*pb.StateRecord{self, fdRec("1/3", 10), lockRec("5", &pb.HeldLock{FdTable: 1, File: 10}), {Key: "lock/5", Deleted: true}}, 3, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var c procIDCache
			c.observe(tc.recs)
			if got := c.takeFD(7, tc.fd); got != tc.want {
				t.Fatalf("takeFD(7, %d) = %v, want %v", tc.fd, got, tc.want)
			}
			if tc.want && c.takeFD(7, tc.fd) {
				t.Errorf("fd %d taken twice", tc.fd)
			}
		})
	}
}

// TestSetresUnchanged: a setresuid or setresgid is answered on the
// client only when Linux would return at once: each id it names is
// the current one, and a named effective id is also the fs id.
func TestSetresUnchanged(t *testing.T) {
	const none = 0xffffffff
	cur := [3]uint32{0, 1000, 2000}
	for _, tc := range []struct {
		name  string
		args  [3]uint64
		fsOwn bool
		want  bool
	}{
		{"all -1", [3]uint64{none, none, none}, false, true},
		{"all -1, fs id of its own", [3]uint64{none, none, none}, true, true},
		{"effective as is", [3]uint64{none, 1000, none}, false, true},
		{"effective as is, fs id of its own", [3]uint64{none, 1000, none}, true, false},
		{"all as they are", [3]uint64{0, 1000, 2000}, false, true},
		{"real as is, fs id of its own", [3]uint64{0, none, 2000}, true, true},
		{"real changes", [3]uint64{1000, none, none}, false, false},
		{"effective changes", [3]uint64{none, 0, none}, false, false},
		{"saved changes", [3]uint64{none, none, 1000}, false, false},
		{"upper bits ignored as by uid_t", [3]uint64{1 << 32, none, none}, false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := [6]uint64{tc.args[0], tc.args[1], tc.args[2]}
			if got := setresUnchanged(cur, tc.fsOwn, a); got != tc.want {
				t.Errorf("setresUnchanged(%v, %v, %#x) = %v, want %v", cur, tc.fsOwn, tc.args, got, tc.want)
			}
		})
	}
}
