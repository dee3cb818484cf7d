package client

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	pb "github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/client/replaylog"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/statekey"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/sysabi"
)

// writeServer serves Sessions that take posted calls in batches, keep
// the write-family calls they carry, answer waited calls at once, and
// answer posted calls only if replyPosted.
type writeServer struct {
	replyPosted bool

	mu sync.Mutex
	// writes are the posted write and pwrite64 calls received, in order.
	writes []*pb.Call
}

func (s *writeServer) session(st pb.Sentry_SessionServer) error {
	if m, err := st.Recv(); err != nil || m.GetHello() == nil {
		return errors.New("want hello")
	}
	st.Send(&pb.ServerMessage{Msg: &pb.ServerMessage_Welcome{Welcome: &pb.Welcome{
		ServerId: "writes", ProtocolVersion: pb.ProtocolVersion, Features: pb.FeaturePostBatch,
	}}})
	for {
		m, err := st.Recv()
		if err != nil {
			return nil
		}
		var replies []*pb.Reply
		s.mu.Lock()
		for _, c := range m.PostedCalls {
			if n := c.GetSyscall().GetSysno(); n == unix.SYS_WRITE || n == unix.SYS_PWRITE64 {
				s.writes = append(s.writes, c)
			}
			if s.replyPosted {
				replies = append(replies, &pb.Reply{Seq: c.Seq, Ret: int64(c.GetSyscall().Args[2])})
			}
		}
		s.mu.Unlock()
		out := &pb.ServerMessage{PostedReplies: replies}
		if c := m.GetCall(); c != nil {
			out.Msg = &pb.ServerMessage_Reply{Reply: &pb.Reply{Seq: c.Seq}}
		} else if len(replies) == 0 {
			continue
		}
		st.Send(out)
	}
}

func (s *writeServer) received() []*pb.Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]*pb.Call(nil), s.writes...)
}

// mergeTasks returns two single-threaded tasks of one client on a
// session served by s with post delay delay: pid 7, whose fd table 1 has
// fds 5 and 7 (description 9), 6 (description 10) and 8 (description
// 11, O_APPEND), and pid 8, whose fd table 2 has fd 5 (description 9: a
// forked child's).
func mergeTasks(t *testing.T, s *writeServer, delay time.Duration) (tk, other *task) {
	t.Helper()
	tk = sessionTaskWith(t, s.session, delay)
	c := tk.c
	c.rl = replaylog.New()
	c.conn.rl = c.rl
	file := func(id uint64, flags uint32, fh string) *pb.StateRecord {
		return &pb.StateRecord{Key: statekey.File(id).String(), Value: &pb.StateRecord_File{File: &pb.FileState{
			Id: id, Kind: pb.FileState_GOFER, Regular: true, Flags: flags, FileHandle: []byte(fh)}}}
	}
	fd := func(table uint64, fd int32, file uint64) *pb.StateRecord {
		return &pb.StateRecord{Key: statekey.FD(table, fd).String(), Value: &pb.StateRecord_Fd{Fd: &pb.FdState{FdTable: table, Fd: fd, File: file}}}
	}
	recs := []*pb.StateRecord{
		{Key: "proc/7", Value: &pb.StateRecord_Process{Process: &pb.ProcessState{Pid: 7, FdTable: 1, Fs: 3}}},
		{Key: "proc/8", Value: &pb.StateRecord_Process{Process: &pb.ProcessState{Pid: 8, FdTable: 2, Fs: 4}}},
		fd(1, 5, 9), fd(1, 7, 9), fd(1, 6, 10), fd(1, 8, 11), fd(2, 5, 9),
		file(9, unix.O_WRONLY, "a"), file(10, unix.O_WRONLY, "b"), file(11, unix.O_WRONLY|unix.O_APPEND, "c"),
	}
	c.ids.observe(recs)
	c.pipe.observe(recs)
	other = &task{c: c, tid: 8, proc: &process{pid: 8}}
	other.proc.threads = map[int32]*task{8: other}
	return tk, other
}

// writeBehindOf posts (or merges) tk's write behind of data to fd, as
// writeBehind does once it read data from the application: a pwrite64
// at off if off >= 0, else a write. It reports whether the write was
// written behind.
func writeBehindOf(t *testing.T, tk *task, fd int, data []byte, off int64) bool {
	t.Helper()
	file, f, ok := tk.wbTarget(int32(fd))
	if !ok {
		t.Fatalf("fd %d: no write behind", fd)
	}
	const addr = 0x10000
	sysno := uintptr(unix.SYS_WRITE)
	args := [6]uint64{uint64(fd), addr, uint64(len(data))}
	if off >= 0 {
		sysno, args[3] = unix.SYS_PWRITE64, uint64(off)
	}
	buf, pooled := tk.c.rl.WriteBuffer(len(data))
	copy(buf, data)
	return tk.sendWriteBehind(file, f.handle, f.ino, sysno, args, []sysabi.Region{{Addr: addr, Data: buf}}, buf, uint64(len(data)), false, pooled, false)
}

// TestMergeDecisions: a write behind is appended to the task's previous
// one when that one is the connection's last queued call, unsent, of the
// same call through the same fd and description, contiguous (a
// pwrite64), and the merged bytes stay within maxMergedWrite; else it is
// posted. The server gets each merged call as one write of all the
// bytes, in order, with its parts.
func TestMergeDecisions(t *testing.T) {
	type step struct {
		// what is "write" (fd, n bytes; at off if off >= 0),
		// "other" (the other process's write to its fd 5, n bytes),
		// "waited" (a waited lseek of fd 5), "posted" (a posted lseek
		// of fd 5), "sleep" (n ms).
		what string
		fd   int
		n    int
		off  int64
	}
	w := func(fd, n int) step { return step{what: "write", fd: fd, n: n, off: -1} }
	pw := func(n int, off int64) step { return step{what: "write", fd: 5, n: n, off: off} }
	// want is a write call the server gets: its fd, offset (-1: a
	// write), and parts (the steps' indexes whose bytes it carries).
	type want struct {
		fd    int
		off   int64
		parts []int
	}
	const k = 1 << 10
	tests := []struct {
		name  string
		delay time.Duration
		steps []step
		want  []want
	}{
		{name: "a loop of writes", steps: []step{w(5, 100), w(5, 100), w(5, 7), w(5, 100)},
			want: []want{{5, -1, []int{0, 1, 2, 3}}}},
		{name: "contiguous pwrites", steps: []step{pw(100, 0), pw(100, 100), pw(50, 200)},
			want: []want{{5, 0, []int{0, 1, 2}}}},
		{name: "a pwrite past a gap", steps: []step{pw(100, 0), pw(100, 150)},
			want: []want{{5, 0, []int{0}}, {5, 150, []int{1}}}},
		{name: "a pwrite before", steps: []step{pw(100, 100), pw(100, 0)},
			want: []want{{5, 100, []int{0}}, {5, 0, []int{1}}}},
		{name: "a write then a pwrite", steps: []step{w(5, 100), pw(100, 100)},
			want: []want{{5, -1, []int{0}}, {5, 100, []int{1}}}},
		{name: "a waited lseek between", steps: []step{w(5, 100), {what: "waited"}, w(5, 100)},
			want: []want{{5, -1, []int{0}}, {5, -1, []int{2}}}},
		{name: "a posted lseek between", steps: []step{w(5, 100), {what: "posted"}, w(5, 100)},
			want: []want{{5, -1, []int{0}}, {5, -1, []int{2}}}},
		{name: "a write to another file between", steps: []step{w(5, 100), w(6, 100), w(5, 100)},
			want: []want{{5, -1, []int{0}}, {6, -1, []int{1}}, {5, -1, []int{2}}}},
		{name: "the description through another fd", steps: []step{w(5, 100), w(7, 100)},
			want: []want{{5, -1, []int{0}}, {7, -1, []int{1}}}},
		{name: "another process's write to the description between", steps: []step{w(5, 100), {what: "other", n: 100, off: -1}, w(5, 100)},
			want: []want{{5, -1, []int{0}}, {5, -1, []int{1}}, {5, -1, []int{2}}}},
		{name: "O_APPEND", steps: []step{w(8, 100), w(8, 100), w(8, 100)},
			want: []want{{8, -1, []int{0, 1, 2}}}},
		{name: "the bound reached", steps: []step{w(5, 100*k), w(5, 100*k), w(5, 100*k)},
			want: []want{{5, -1, []int{0, 1}}, {5, -1, []int{2}}}},
		{name: "a full batch sent", steps: []step{w(5, 64*k), w(5, 64*k), w(5, 64*k), w(5, 64*k), w(5, 64*k)},
			want: []want{{5, -1, []int{0, 1, 2, 3}}, {5, -1, []int{4}}}},
		{name: "the queue due", delay: 20 * time.Millisecond, steps: []step{w(5, 100), {what: "sleep", n: 60}, w(5, 100)},
			want: []want{{5, -1, []int{0}}, {5, -1, []int{2}}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := &writeServer{replyPosted: true}
			delay := tc.delay
			if delay == 0 {
				// Nothing is sent by the timer meanwhile (the
				// transport's longest delay).
				delay = time.Second
			}
			tk, other := mergeTasks(t, s, delay)
			data := make([][]byte, len(tc.steps))
			for i, st := range tc.steps {
				switch st.what {
				case "write", "other":
					data[i] = bytes.Repeat([]byte{byte('a' + i)}, st.n)
					by, fd := tk, st.fd
					if st.what == "other" {
						by, fd = other, 5
					}
					if !writeBehindOf(t, by, fd, data[i], st.off) {
						t.Fatalf("step %d: not written behind", i)
					}
				case "waited":
					if _, err := tk.c.conn.CallSyscall(context.Background(), newSessionCall(tk.tid, unix.SYS_LSEEK, [6]uint64{5, 0, unix.SEEK_SET}, nil)); err != nil {
						t.Fatal(err)
					}
				case "posted":
					if !tk.post(unix.SYS_LSEEK, [6]uint64{5, 0, unix.SEEK_SET}, nil, nil) {
						t.Fatal("lseek not posted")
					}
				case "sleep":
					time.Sleep(time.Duration(st.n) * time.Millisecond)
				}
			}
			// A waited call takes the queue along.
			if _, err := tk.c.conn.CallSyscall(context.Background(), newSessionCall(tk.tid, unix.SYS_GETPID, [6]uint64{}, nil)); err != nil {
				t.Fatal(err)
			}
			got := s.received()
			if len(got) != len(tc.want) {
				t.Fatalf("the server got %d write calls, want %d", len(got), len(tc.want))
			}
			for i, wc := range tc.want {
				sc := got[i].GetSyscall()
				var wantData []byte
				var wantParts []uint64
				for _, p := range wc.parts {
					wantData = append(wantData, data[p]...)
					wantParts = append(wantParts, uint64(len(data[p])))
				}
				if len(wantParts) == 1 {
					wantParts = nil
				}
				wantSysno, wantOff := int32(unix.SYS_WRITE), uint64(0)
				if wc.off >= 0 {
					wantSysno, wantOff = unix.SYS_PWRITE64, uint64(wc.off)
				}
				if sc.Sysno != wantSysno || sc.Args[0] != uint64(wc.fd) || sc.Args[2] != uint64(len(wantData)) ||
					(wc.off >= 0 && sc.Args[3] != wantOff) {
					t.Errorf("write %d: sysno %d args %v, want sysno %d on fd %d of %d bytes at %d", i, sc.Sysno, sc.Args[:4], wantSysno, wc.fd, len(wantData), wc.off)
				}
				if len(sc.Inputs) != 1 || sc.Inputs[0].Addr != sc.Args[1] || !bytes.Equal(sc.Inputs[0].Data, wantData) {
					t.Errorf("write %d: its input is not the bytes of steps %v", i, wc.parts)
				}
				if got := sc.WriteParts.GetLengths(); !slices.Equal(got, wantParts) || (wantParts == nil) != (sc.WriteParts == nil) {
					t.Errorf("write %d: parts %v, want %v", i, got, wantParts)
				}
			}
			var merged uint64
			for _, wc := range tc.want {
				merged += uint64(len(wc.parts) - 1)
			}
			if got := tk.c.conn.mergedWrites.Load(); got != merged {
				t.Errorf("%d writes merged, want %d", got, merged)
			}
		})
	}
}

// TestMergedWriteBytesBound: the bytes a merge adds count towards the
// bound of bytes posted and in flight (maxPostedBytes): with no reply
// coming, a loop of 64 KiB writes behind is written behind up to 32 MiB
// and no further, and the bytes counted in flight are those the calls
// in flight carry.
func TestMergedWriteBytesBound(t *testing.T) {
	s := &writeServer{}
	tk, _ := mergeTasks(t, s, time.Second)
	const n = 64 << 10
	data := bytes.Repeat([]byte{'m'}, n)
	written := 0
	for written <= 2*maxPostedBytes && writeBehindOf(t, tk, 5, data, -1) {
		written += n
	}
	if written != maxPostedBytes {
		t.Errorf("%d bytes written behind without a reply, want %d", written, maxPostedBytes)
	}
	rs := tk.c.conn
	rs.imu.Lock()
	counted, inFlight := rs.postedBytes, 0
	for _, p := range rs.inflight {
		if p.posted {
			inFlight += inputBytes(p.call)
		}
	}
	rs.imu.Unlock()
	if counted != inFlight {
		t.Errorf("%d bytes counted in flight, the calls in flight carry %d", counted, inFlight)
	}
	// A queue that fell due (a slow run) cuts a merge short: at most
	// one call a write.
	if calls, merged := rs.postedCalls.Load(), rs.mergedWrites.Load(); merged == 0 || calls+merged != uint64(written/n) {
		t.Errorf("%d calls posted and %d writes merged into them, want %d writes in all, some merged", calls, merged, written/n)
	}
}
