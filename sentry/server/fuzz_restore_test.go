package server

import (
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/syserr"
)

// FuzzRestore gives a fresh client arbitrary Restore and Rewrite messages
// (as a hostile or broken client could send after Hello{resume}): the
// server answers each with a reply (an errno when it makes no sense),
// never a panic or a hang, and a non-operator peer cannot restore
// processes with credentials other than its own.
func FuzzRestore(f *testing.F) {
	seed := func(m proto.Message) {
		b, err := proto.Marshal(m)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b, false)
		f.Add(b, true)
	}
	seed(&sentrypb.Restore{})
	seed(&sentrypb.Restore{Records: []*sentrypb.StateRecord{
		{Key: "proc/1", Value: &sentrypb.StateRecord_Process{Process: &sentrypb.ProcessState{Pid: 1, Pgid: 1, Sid: 1, Init: true, Ruid: 0, Euid: 0}}},
		{Key: "thread/1", Value: &sentrypb.StateRecord_Thread{Thread: &sentrypb.ThreadState{Tid: 1, Pid: 1}}},
		{Key: "fs/1", Value: &sentrypb.StateRecord_Fs{Fs: &sentrypb.FsState{Id: 1, Cwd: []byte("/"), Umask: 022}}},
	}})
	seed(&sentrypb.Restore{Records: []*sentrypb.StateRecord{
		{Key: "proc/1", Value: &sentrypb.StateRecord_Process{Process: &sentrypb.ProcessState{Pid: 1, Init: true}}},
		{Key: "proc/2", Value: &sentrypb.StateRecord_Process{Process: &sentrypb.ProcessState{Pid: 2, Ppid: 2, Init: true}}},
		{Key: "fdt/1/3", Value: &sentrypb.StateRecord_Fd{Fd: &sentrypb.FdState{FdTable: 1, Fd: 3, File: 9}}},
		{Key: "file/9", Value: &sentrypb.StateRecord_File{File: &sentrypb.FileState{Id: 9, Kind: sentrypb.FileState_GOFER, FileHandle: []byte{1, 2, 3}, Path: []byte("/etc/passwd")}}},
		{Key: "pipe/1", Value: &sentrypb.StateRecord_Pipe{Pipe: &sentrypb.PipeState{Id: 1, Data: []byte("x")}}},
	}, StdinUnread: []byte("in")})
	seed(&sentrypb.Rewrite{Seq: 1, Path: []byte("/tmp/x"), Offset: -1, Data: []byte("d")})
	perm := &sentrypb.SysvPerm{Mode: 0600}
	seed(&sentrypb.Restore{Records: []*sentrypb.StateRecord{
		{Key: "sysv/ids", Value: &sentrypb.StateRecord_SysvIds{SysvIds: &sentrypb.SysvIds{SemSeq: 3}}},
		{Key: "sysv/sem/0", Value: &sentrypb.StateRecord_SysvSem{SysvSem: &sentrypb.SysvSemState{Perm: perm, Values: []uint32{1, 2}, Undo: []*sentrypb.SysvSemUndo{{Pid: 1, Adj: []int32{-1, 0}}}}}},
		{Key: "sysv/msg/1", Value: &sentrypb.StateRecord_SysvMsg{SysvMsg: &sentrypb.SysvMsgState{Id: 1, Perm: perm, Messages: []*sentrypb.SysvMessage{{Type: 1, Text: []byte("m")}}}}},
		{Key: "sysv/shm/2", Value: &sentrypb.StateRecord_SysvShm{SysvShm: &sentrypb.SysvShmState{Id: 2, Perm: perm, Size: 4096, File: ".rd-sysv-shm-2-1", Attaches: []*sentrypb.SysvShmAttach{{Pid: 1, Count: 1}}}}},
	}})
	seed(&sentrypb.Restore{Records: []*sentrypb.StateRecord{
		{Key: "sysctl", Value: &sentrypb.StateRecord_Sysctl{Sysctl: &sentrypb.SysctlState{NrOpen: proto.Int32(63), IpForward: proto.Bool(true),
			CorePattern: []byte("core\n%p"), MqQueuesMax: proto.Int64(-1), MqMsgMax: proto.Int64(1 << 40)}}},
	}})
	root := newRoot(f)
	srv, err := New(Config{Gofer: startGofer(f, root), Log: testLog()})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte, rewrite bool) {
		if len(data) > 1<<16 {
			return
		}
		g := grant{principal: "uid:1000", uid: 1000, gid: 1000}
		c, err := openClient(srv, &sentrypb.Hello{ClientId: "fuzz", Resume: true}, g)
		if err != nil {
			t.Fatal(err)
		}
		defer c.destroy()
		c.stream.setSender(func(*sentrypb.ServerMessage) error { return nil })
		k := c.k
		call := &sentrypb.Call{Seq: 10}
		if rewrite {
			rw := new(sentrypb.Rewrite)
			if proto.Unmarshal(data, rw) != nil {
				return
			}
			call.Op = &sentrypb.Call_Rewrite{Rewrite: rw}
		} else {
			rs := new(sentrypb.Restore)
			if proto.Unmarshal(data, rs) != nil {
				return
			}
			call.Op = &sentrypb.Call_Restore{Restore: rs}
		}
		r, _ := c.execAux(call)
		if r.GetSeq() != 10 || r.GetErrno() < 0 || r.GetErrno() > syserr.MaxErrno {
			t.Fatalf("reply %v", r)
		}
		if r.GetErrno() != 0 {
			return
		}
		k.Mu.Lock()
		defer k.Mu.Unlock()
		for pid, p := range k.Procs {
			if c := p.Creds; c.RUID != 1000 || c.EUID != 1000 || c.SUID != 1000 || c.RGID != 1000 || c.EGID != 1000 || c.SGID != 1000 {
				t.Fatalf("restored process %d with creds %+v beyond the peer's grant", pid, c)
			}
		}
	})
}
