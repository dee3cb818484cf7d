package client

import (
	"debug/elf"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"
	"google.golang.org/grpc"

	pb "github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/sysabi"
	"github.com/runsc-decoupled/runsc-decoupled/transport"
)

// fakeSentry is a minimal remote sentry for the client's tests: it plans
// execs of static ELF files from the host, serves their pages, turns
// writes to fds 1 and 2 into StdioOutput pushes, ends the application on
// exit_group and on a signal sent with tgkill/kill.
type fakeSentry struct {
	pb.UnimplementedSentryServer
	t *testing.T

	mu    sync.Mutex
	files map[uint64]string
	calls map[string]int
	// pageReads counts PageRead calls.
	pageReads int
	// hellos are the Hellos received.
	hellos []*pb.Hello

	// hook, when set, sees every call first and says it handled it.
	hook func(ss *session, c *pb.Call) bool
	// frozen stops heartbeats (a hung server).
	frozen atomic.Bool
	// dropHellos is how many sessions to end right after their Hello
	// (a server dying during the handshake).
	dropHellos atomic.Int32
	// gs serves the fake; Stop kills it.
	gs *grpc.Server
}

func (s *fakeSentry) count(name string) {
	s.mu.Lock()
	s.calls[name]++
	s.mu.Unlock()
}

// startFakeSentry serves a fakeSentry on a Unix socket and returns its
// target.
func startFakeSentry(t *testing.T) (*fakeSentry, string) {
	t.Helper()
	target := "unix:" + filepath.Join(t.TempDir(), "sentry.sock")
	return startFakeSentryAt(t, target, nil), target
}

// startFakeSentryAt serves a fakeSentry with hook at target.
func startFakeSentryAt(t *testing.T, target string, hook func(ss *session, c *pb.Call) bool) *fakeSentry {
	t.Helper()
	s := &fakeSentry{t: t, files: map[uint64]string{}, calls: map[string]int{}, hook: hook}
	tg, err := transport.ParseTarget(target)
	if err != nil {
		t.Fatal(err)
	}
	l, err := transport.Listen(tg)
	if err != nil {
		t.Fatal(err)
	}
	gs := grpc.NewServer()
	s.gs = gs
	pb.RegisterSentryServer(gs, s)
	go gs.Serve(l)
	t.Cleanup(gs.Stop)
	return s
}

type session struct {
	s      *fakeSentry
	stream grpc.BidiStreamingServer[pb.ClientMessage, pb.ServerMessage]
	sendMu sync.Mutex
	nextID uint64
	tid    int32

	mu      sync.Mutex
	nextTid int32
	procs   map[int32]*fakeProc
	changed chan struct{} // closed and replaced when a process exits
}

// fakeProc is a process of the fake sentry (single-threaded).
type fakeProc struct {
	parent   int32
	exited   bool
	reaped   bool
	status   int32
	handlers map[int32][]byte // raw kernel sigaction by signal
}

func (ss *session) proc(tid int32) *fakeProc {
	p := ss.procs[tid]
	if p == nil {
		p = &fakeProc{handlers: map[int32][]byte{}}
		ss.procs[tid] = p
	}
	return p
}

func (ss *session) send(m *pb.ServerMessage) {
	ss.sendMu.Lock()
	defer ss.sendMu.Unlock()
	ss.stream.Send(m)
}

func (ss *session) reply(r *pb.Reply) {
	ss.send(&pb.ServerMessage{Msg: &pb.ServerMessage_Reply{Reply: r}})
}

func (ss *session) push(p *pb.Push) {
	ss.send(&pb.ServerMessage{Msg: &pb.ServerMessage_Push{Push: p}})
}

// welcome sends a fake server's Welcome (its ServerId id), then a
// Heartbeat every period, none while frozen (nil: never) says so, until
// the function it returns is called.
func welcome(send func(*pb.ServerMessage), id string, period time.Duration, frozen func() bool) (stop func()) {
	send(&pb.ServerMessage{Msg: &pb.ServerMessage_Welcome{Welcome: &pb.Welcome{ServerId: id, ProtocolVersion: pb.ProtocolVersion}}})
	done := make(chan struct{})
	go func() {
		tk := time.NewTicker(period)
		defer tk.Stop()
		for {
			select {
			case <-done:
				return
			case <-tk.C:
				if frozen == nil || !frozen() {
					send(&pb.ServerMessage{Msg: &pb.ServerMessage_Heartbeat{Heartbeat: &pb.Heartbeat{}}})
				}
			}
		}
	}()
	return func() { close(done) }
}

// Session implements pb.SentryServer.Session.
func (s *fakeSentry) Session(stream grpc.BidiStreamingServer[pb.ClientMessage, pb.ServerMessage]) error {
	ss := &session{s: s, stream: stream, tid: 100, nextTid: 100, procs: map[int32]*fakeProc{}, changed: make(chan struct{})}
	m, err := stream.Recv()
	if err != nil || m.GetHello() == nil {
		return fmt.Errorf("expected hello")
	}
	s.mu.Lock()
	s.hellos = append(s.hellos, m.GetHello())
	s.mu.Unlock()
	if s.dropHellos.Add(-1) >= 0 {
		return fmt.Errorf("dying during the handshake")
	}
	defer welcome(ss.send, "fake", 50*time.Millisecond, s.frozen.Load)()
	for {
		m, err := stream.Recv()
		if err != nil {
			return nil
		}
		switch m := m.Msg.(type) {
		case *pb.ClientMessage_Call:
			// Calls may block (wait4): handle each concurrently.
			go ss.handle(m.Call)
		case *pb.ClientMessage_Goodbye:
			ss.send(&pb.ServerMessage{Msg: &pb.ServerMessage_Farewell{Farewell: &pb.Farewell{}}})
		}
	}
}

func (ss *session) handle(c *pb.Call) {
	s := ss.s
	if s.frozen.Load() || (s.hook != nil && s.hook(ss, c)) {
		return
	}
	switch op := c.Op.(type) {
	case *pb.Call_Start:
		name := op.Start.Filename
		if string(name) == "" {
			name = op.Start.Argv[0]
		}
		plan, err := ss.plan(string(name), pb.StringList(op.Start.Argv), pb.StringList(op.Start.Env))
		if err != nil {
			ss.reply(&pb.Reply{Seq: c.Seq, Errno: int32(unix.ENOEXEC)})
			return
		}
		ss.reply(&pb.Reply{Seq: c.Seq, Action: &pb.Reply_Exec{Exec: plan}})
	case *pb.Call_PageRead:
		s.mu.Lock()
		path := s.files[op.PageRead.FileId]
		s.pageReads++
		s.mu.Unlock()
		f, err := os.Open(path)
		if err != nil {
			ss.reply(&pb.Reply{Seq: c.Seq, Errno: int32(unix.EIO)})
			return
		}
		defer f.Close()
		buf := make([]byte, op.PageRead.Length)
		n, err := f.ReadAt(buf, int64(op.PageRead.Offset))
		if err != nil && err != io.EOF {
			ss.reply(&pb.Reply{Seq: c.Seq, Errno: int32(unix.EIO)})
			return
		}
		ss.reply(&pb.Reply{Seq: c.Seq, Action: &pb.Reply_Data{Data: buf[:n]}})
	case *pb.Call_FileRelease:
		ss.reply(&pb.Reply{Seq: c.Seq})
	case *pb.Call_Syscall:
		ss.syscall(c, op.Syscall)
	case *pb.Call_Fault:
		// No handlers for faults in the fake: kill with the signal.
		ss.s.count("fault")
		ss.syscall(c, &pb.Syscall{Sysno: unix.SYS_TGKILL, Args: []uint64{uint64(c.Tid), uint64(c.Tid), uint64(op.Fault.Signo)}})
	}
}

func (ss *session) syscall(c *pb.Call, sc *pb.Syscall) {
	args := make([]uint64, 6)
	copy(args, sc.Args)
	var regions []sysabi.Region
	for _, r := range sc.Inputs {
		regions = append(regions, sysabi.Region{Addr: r.Addr, Data: r.Data})
	}
	mem := sysabi.NewMemory(regions)
	name := sysName(uintptr(sc.Sysno))
	ss.s.count(name)
	exit := func(status int32) {
		ss.mu.Lock()
		p := ss.proc(c.Tid)
		p.exited, p.status = true, status
		close(ss.changed)
		ss.changed = make(chan struct{})
		ss.mu.Unlock()
		ss.reply(&pb.Reply{Seq: c.Seq, Action: &pb.Reply_Exit{Exit: &pb.ExitAction{Group: true, WaitStatus: status, AppExit: c.Tid == ss.tid}}})
	}
	switch uintptr(sc.Sysno) {
	case unix.SYS_WRITE:
		fd := int32(args[0])
		if fd != 1 && fd != 2 {
			ss.reply(&pb.Reply{Seq: c.Seq, Errno: int32(unix.EBADF)})
			return
		}
		b, err := mem.CopyIn(args[1], int(args[2]))
		if err != nil {
			ss.reply(&pb.Reply{Seq: c.Seq, Errno: int32(unix.EFAULT)})
			return
		}
		ss.push(&pb.Push{Msg: &pb.Push_Output{Output: &pb.StdioOutput{Fd: fd, Data: b}}})
		ss.reply(&pb.Reply{Seq: c.Seq, Ret: int64(len(b))})
	case unix.SYS_WRITEV:
		fd := int32(args[0])
		iov, err := mem.CopyInIovecs(args[1], int(args[2]))
		if err != nil || (fd != 1 && fd != 2) {
			ss.reply(&pb.Reply{Seq: c.Seq, Errno: int32(unix.EFAULT)})
			return
		}
		var out []byte
		for _, v := range iov {
			b, err := mem.CopyIn(v.Base, int(v.Len))
			if err != nil {
				ss.reply(&pb.Reply{Seq: c.Seq, Errno: int32(unix.EFAULT)})
				return
			}
			out = append(out, b...)
		}
		ss.push(&pb.Push{Msg: &pb.Push_Output{Output: &pb.StdioOutput{Fd: fd, Data: out}}})
		ss.reply(&pb.Reply{Seq: c.Seq, Ret: int64(len(out))})
	case unix.SYS_EXIT_GROUP:
		exit(int32(args[0]&0xff) << 8)
	case unix.SYS_EXIT:
		// Thread exit (the tests' threads never end a process this way).
		ss.reply(&pb.Reply{Seq: c.Seq, Action: &pb.Reply_Exit{Exit: &pb.ExitAction{WaitStatus: int32(args[0]&0xff) << 8}}})
	case unix.SYS_TGKILL, unix.SYS_KILL:
		target, sig := int32(args[0]), int32(args[1])
		if sc.Sysno == unix.SYS_TGKILL {
			target, sig = int32(args[1]), int32(args[2])
		}
		ss.mu.Lock()
		act := ss.proc(target).handlers[sig]
		ss.mu.Unlock()
		if len(act) == 32 && le64(act) > 1 {
			info := make([]byte, 128)
			binary.LittleEndian.PutUint32(info[0:], uint32(sig))
			binary.LittleEndian.PutUint32(info[8:], uint32(0xfffffffa)) // SI_TKILL
			binary.LittleEndian.PutUint32(info[16:], uint32(c.Tid))
			ss.push(&pb.Push{Msg: &pb.Push_Signal{Signal: &pb.SignalPush{Tid: target, Signo: sig, Siginfo: info, Sigaction: act}}})
			ss.reply(&pb.Reply{Seq: c.Seq})
			return
		}
		if target != c.Tid {
			ss.reply(&pb.Reply{Seq: c.Seq, Errno: int32(unix.ESRCH)})
			return
		}
		exit(sig)
	case unix.SYS_RT_SIGACTION:
		sig := int32(args[0])
		ss.mu.Lock()
		p := ss.proc(c.Tid)
		old := p.handlers[sig]
		if args[1] != 0 {
			b, err := mem.CopyIn(args[1], 32)
			if err != nil {
				ss.mu.Unlock()
				ss.reply(&pb.Reply{Seq: c.Seq, Errno: int32(unix.EFAULT)})
				return
			}
			p.handlers[sig] = b
		}
		ss.mu.Unlock()
		r := &pb.Reply{Seq: c.Seq}
		if args[2] != 0 {
			if old == nil {
				old = make([]byte, 32)
			}
			r.Outputs = []*pb.Region{{Addr: args[2], Data: old}}
		}
		ss.reply(r)
	case unix.SYS_CLONE, unix.SYS_FORK, unix.SYS_VFORK:
		ss.mu.Lock()
		ss.nextTid++
		child := ss.nextTid
		parent := ss.proc(c.Tid)
		cp := ss.proc(child)
		cp.parent = c.Tid
		for k, v := range parent.handlers {
			cp.handlers[k] = v
		}
		ss.mu.Unlock()
		ss.reply(&pb.Reply{Seq: c.Seq, Ret: int64(child), Action: &pb.Reply_Clone{Clone: &pb.CloneResult{ChildTid: child}}})
	case unix.SYS_WAIT4:
		pid := int32(args[0])
		for {
			ss.mu.Lock()
			for tid, p := range ss.procs {
				if p.parent == c.Tid && !p.reaped && (pid == -1 || pid == tid) && p.exited {
					p.reaped = true
					ss.mu.Unlock()
					r := &pb.Reply{Seq: c.Seq, Ret: int64(tid)}
					if args[1] != 0 {
						st := make([]byte, 4)
						binary.LittleEndian.PutUint32(st, uint32(p.status))
						r.Outputs = []*pb.Region{{Addr: args[1], Data: st}}
					}
					ss.reply(r)
					return
				}
			}
			ch := ss.changed
			ss.mu.Unlock()
			<-ch
		}
	case unix.SYS_EXECVE:
		path, err := mem.CopyInString(args[0], 4096)
		if err != nil {
			ss.reply(&pb.Reply{Seq: c.Seq, Errno: int32(unix.EFAULT)})
			return
		}
		argv, err1 := mem.CopyInStringVector(args[1], 1024, 1<<20)
		env, err2 := mem.CopyInStringVector(args[2], 1024, 1<<20)
		if err1 != nil || err2 != nil {
			ss.reply(&pb.Reply{Seq: c.Seq, Errno: int32(unix.EFAULT)})
			return
		}
		plan, err := ss.plan(path, argv, env)
		if err != nil {
			ss.reply(&pb.Reply{Seq: c.Seq, Errno: int32(unix.ENOENT)})
			return
		}
		plan.Tid = c.Tid
		ss.mu.Lock()
		ss.proc(c.Tid).handlers = map[int32][]byte{}
		ss.mu.Unlock()
		ss.reply(&pb.Reply{Seq: c.Seq, Action: &pb.Reply_Exec{Exec: plan}})
	case unix.SYS_IOCTL:
		ss.reply(&pb.Reply{Seq: c.Seq, Errno: int32(unix.ENOTTY)})
	case unix.SYS_GETPPID:
		ss.reply(&pb.Reply{Seq: c.Seq, Ret: 1})
	default:
		ss.reply(&pb.Reply{Seq: c.Seq, Errno: int32(unix.ENOSYS)})
	}
}

// replyStart answers a Start call (c, whose op is st) with the plan of
// its program and the records that records makes of that plan, or
// ENOEXEC.
func (ss *session) replyStart(c *pb.Call, st *pb.Start, records func(*pb.ExecPlan) []*pb.StateRecord) {
	plan, err := ss.plan(string(st.Argv[0]), pb.StringList(st.Argv), pb.StringList(st.Env))
	if err != nil {
		ss.reply(&pb.Reply{Seq: c.Seq, Errno: int32(unix.ENOEXEC)})
		return
	}
	ss.reply(&pb.Reply{Seq: c.Seq, Action: &pb.Reply_Exec{Exec: plan}, State: records(plan)})
}

// plan builds an ExecPlan for a static ELF on the host.
func (ss *session) plan(path string, argv, env []string) (*pb.ExecPlan, error) {
	f, err := elf.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	ss.s.mu.Lock()
	ss.nextID++
	id := ss.nextID
	ss.s.files[id] = path
	ss.s.mu.Unlock()
	img := &pb.Image{
		FileId:   id,
		FileSize: uint64(fi.Size()),
		ElfType:  uint32(f.Type),
		Entry:    f.Entry,
		Phent:    56,
		Phnum:    uint32(len(f.Progs)),
	}
	var phoff uint64 = 64 // ELF64 header size; program headers follow
	for _, p := range f.Progs {
		switch p.Type {
		case elf.PT_PHDR:
			img.PhdrVaddr = p.Vaddr
		case elf.PT_LOAD:
			if img.PhdrVaddr == 0 && p.Off == 0 {
				img.PhdrVaddr = p.Vaddr + phoff
			}
			var prot uint32
			if p.Flags&elf.PF_R != 0 {
				prot |= unix.PROT_READ
			}
			if p.Flags&elf.PF_W != 0 {
				prot |= unix.PROT_WRITE
			}
			if p.Flags&elf.PF_X != 0 {
				prot |= unix.PROT_EXEC
			}
			img.Segments = append(img.Segments, &pb.Segment{Vaddr: p.Vaddr, Memsz: p.Memsz, Filesz: p.Filesz, Offset: p.Off, Prot: prot})
		case elf.PT_INTERP:
			return nil, fmt.Errorf("%s is dynamic", path)
		}
	}
	return &pb.ExecPlan{Tid: ss.tid, Image: img, Argv: pb.BytesList(argv), Env: pb.BytesList(env), Execfn: []byte(path), Comm: []byte(filepath.Base(path))}, nil
}
