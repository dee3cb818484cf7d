package server

import (
	"bytes"
	"context"
	"strconv"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/ksignal"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/pipe"
)

// TestPipePostedWrites checks the server's side of pipe writes behind
// (sentry/client/pipebehind.go): the replies of writes to a pipe's only
// write end grant its free space as room while it has a reader; a
// posted write appends whole, past the pipe's size if it must (no
// blocking: the reader's calls wait for it); one that finds no reader
// fails alone with EPIPE and raises no SIGPIPE (the process, whose
// SIGPIPE is fatal, lives on), while the waited write after it raises
// SIGPIPE as on Linux.
func TestPipePostedWrites(t *testing.T) {
	e := started(t)
	m := e.mem
	// A handler, so that the server pushes SIGPIPE to the client (init
	// ignores a default-fatal one).
	act := ksignal.Action{Handler: 0x401000, Flags: ksignal.SARestorer, Restorer: 0x402000}
	e.ok(1, unix.SYS_RT_SIGACTION, uint64(unix.SIGPIPE), m.alloc(act.Bytes()), 0, 8)
	sigpipes := func() int { return e.signalsPushed(unix.SIGPIPE) }
	fds := m.zeros(8)
	e.ok(1, unix.SYS_PIPE2, fds, 0)
	rfd, wfd := uint64(m.u32(fds)), uint64(m.u32(fds+4))
	const n = 1000
	data := m.alloc(bytes.Repeat([]byte{'p'}, n))
	buf := m.zeros(pipe.DefaultCapacity)
	type step struct {
		name    string
		call    func() *sentrypb.Reply
		wantRet int64
		wantErr unix.Errno
		// wantRoom is the reply's pipe_room.
		wantRoom uint64
	}
	write := func(posted bool) func() *sentrypb.Reply {
		return func() *sentrypb.Reply {
			if posted {
				return e.posted(1, unix.SYS_WRITE, wfd, data, n)
			}
			return e.sys(1, unix.SYS_WRITE, wfd, data, n)
		}
	}
	var steps []step
	steps = append(steps,
		step{"waited write", write(false), n, 0, pipe.DefaultCapacity - n},
		step{"posted write", write(true), n, 0, pipe.DefaultCapacity - 2*n},
	)
	// Fill the pipe with posted writes: past its size, the last ones
	// are taken whole all the same, with no room left.
	const writes = pipe.DefaultCapacity/n + 2
	for i := 2; i < writes; i++ {
		room := max(pipe.DefaultCapacity-(i+1)*n, 0)
		steps = append(steps, step{"posted write filling", write(true), n, 0, uint64(room)})
	}
	steps = append(steps,
		step{"read", func() *sentrypb.Reply { return e.sys(1, unix.SYS_READ, rfd, buf, pipe.DefaultCapacity) }, pipe.DefaultCapacity, 0, 0},
		step{"read the overflow", func() *sentrypb.Reply { return e.sys(1, unix.SYS_READ, rfd, buf, pipe.DefaultCapacity) }, writes*n - pipe.DefaultCapacity, 0, 0},
		step{"posted write after reads", write(true), n, 0, pipe.DefaultCapacity - n},
		step{"close the reader", func() *sentrypb.Reply { return e.sys(1, unix.SYS_CLOSE, rfd) }, 0, 0, 0},
		step{"posted write without a reader", write(true), 0, unix.EPIPE, 0},
		step{"a waited call after it", func() *sentrypb.Reply { return e.sys(1, unix.SYS_GETPID) }, 1, 0, 0},
	)
	for _, s := range steps {
		r := s.call()
		if r.Ret != s.wantRet || unix.Errno(r.Errno) != s.wantErr || r.PipeRoom != s.wantRoom {
			t.Fatalf("%s: ret %d errno %v room %d; want %d %v %d", s.name, r.Ret, unix.Errno(r.Errno), r.PipeRoom, s.wantRet, s.wantErr, s.wantRoom)
		}
	}
	// The waited write meets EPIPE and SIGPIPE, whose default action
	// ends the process.
	if n := sigpipes(); n != 0 {
		t.Fatalf("%d SIGPIPE pushed for a posted write", n)
	}
	// The waited write meets EPIPE and SIGPIPE.
	e.fails(unix.EPIPE, 1, unix.SYS_WRITE, wfd, data, n)
	e.waitPush(func(p *sentrypb.Push) bool { return p.GetSignal().GetSigno() == int32(unix.SIGPIPE) })
}

// TestPipeReadAhead checks the server's side of pipe reads ahead: a read
// asking for it brings a copy of the bytes after those read, left in the
// pipe (FIONREAD still counts them); a posted read with pipe_consumed
// takes them out without sending them back; no copy comes for a pipe
// with two read descriptions.
func TestPipeReadAhead(t *testing.T) {
	e := started(t)
	m := e.mem
	fds := m.zeros(8)
	e.ok(1, unix.SYS_PIPE2, fds, 0)
	rfd, wfd := uint64(m.u32(fds)), uint64(m.u32(fds+4))
	data := m.alloc([]byte("0123456789"))
	e.ok(1, unix.SYS_WRITE, wfd, data, 10)
	buf := m.zeros(16)
	read := func(n uint64, ahead, consumed bool) *sentrypb.Reply {
		return e.call(&sentrypb.Call{Tid: 1, Op: &sentrypb.Call_Syscall{Syscall: &sentrypb.Syscall{Sysno: unix.SYS_READ,
			Args: []uint64{rfd, buf, n, 0, 0, 0}, PipeAheadWanted: ahead, PipeConsumed: consumed, Posted: consumed}}})
	}
	avail := func() uint32 {
		out := m.zeros(4)
		e.ok(1, unix.SYS_IOCTL, rfd, unix.TIOCINQ, out)
		return m.u32(out)
	}
	if r := read(4, true, false); r.Ret != 4 || string(r.PipeAhead) != "456789" {
		t.Fatalf("read ahead: ret %d ahead %q; want 4 and %q", r.Ret, r.PipeAhead, "456789")
	}
	if n := avail(); n != 6 {
		t.Errorf("FIONREAD %d after the read ahead, want the 6 bytes still in the pipe", n)
	}
	if r := read(5, false, true); r.Ret != 5 || r.Errno != 0 || len(r.Outputs) != 0 {
		t.Errorf("consuming read: ret %d errno %v outputs %d; want 5, none sent back", r.Ret, unix.Errno(r.Errno), len(r.Outputs))
	}
	if r := e.sys(1, unix.SYS_READ, rfd, buf, 16); r.Ret != 1 || string(m.bytes(buf, 1)) != "9" {
		t.Errorf("read after the consuming one: ret %d %q, want the last byte", r.Ret, m.bytes(buf, 1))
	}
	// A second read description (a dup shares it; a reopen does not):
	// no copy.
	e.ok(1, unix.SYS_WRITE, wfd, data, 10)
	proc := m.str("/proc/self/fd/" + strconv.FormatUint(rfd, 10))
	other := uint64(e.ok(1, unix.SYS_OPENAT, uint64(unix.AT_FDCWD&0xffffffff), proc, unix.O_RDONLY))
	if r := read(4, true, false); r.Ret != 4 || len(r.PipeAhead) != 0 {
		t.Errorf("read ahead with two readers: ret %d ahead %q; want 4 and none", r.Ret, r.PipeAhead)
	}
	e.ok(1, unix.SYS_CLOSE, other)
}

// TestPipeConsumeResentBeforeWrite: the bytes a consuming read takes
// (the client answered a read from a copy Ahead gave) came from a write
// whose reply the dead server never sent, so after the Restore they come
// again only with that write, re-sent on another thread; when the
// consuming read runs first, it waits for them instead of taking fewer,
// which left them in the pipe for the next read to return a second time
// (chaos pipeline's md5 differed after server kills).
func TestPipeConsumeResentBeforeWrite(t *testing.T) {
	r := newReplayer(t)
	r.start()
	fds := r.mem.zeros(8)
	r.ok(1, unix.SYS_PIPE2, fds, 0)
	rfd, wfd := uint64(r.mem.u32(fds)), uint64(r.mem.u32(fds+4))
	reader := r.sys(1, unix.SYS_CLONE, uint64(unix.SIGCHLD)).GetClone().GetChildTid()
	if reader == 0 {
		t.Fatal("fork failed")
	}
	data := make([]byte, 1<<20)
	for i := range data {
		data[i] = byte(i % 251)
	}
	// The writer's write fills the pipe and blocks; its reply is lost
	// with the server.
	w := r.syscallCall(1, unix.SYS_WRITE, wfd, r.mem.alloc(data), uint64(len(data)))
	r.mu.Lock()
	r.seq++
	w.Seq = r.seq
	r.mu.Unlock()
	conn := r.conn
	go conn.Call(context.Background(), w)
	// The reader's read is answered, with a copy of the bytes after it.
	const readFirst = 100
	buf := r.mem.zeros(readFirst)
	rc := r.syscallCall(reader, unix.SYS_READ, rfd, buf, readFirst)
	rc.GetSyscall().PipeAheadWanted = true
	rep := r.call(rc, false)
	r.mem.apply(rep.Outputs)
	if rep.Ret != readFirst || !bytes.Equal(r.mem.bytes(buf, readFirst), data[:readFirst]) {
		t.Fatalf("first read: ret %d errno %v, want the write's first %d bytes", rep.Ret, unix.Errno(rep.Errno), readFirst)
	}
	ahead := rep.PipeAhead
	if len(ahead) == 0 || !bytes.Equal(ahead, data[readFirst:readFirst+len(ahead)]) {
		t.Fatalf("read ahead: %d bytes, want the write's next ones", len(ahead))
	}
	// The client answers the next read from the copy and posts its
	// consuming read; its reply is lost too.
	consume := &sentrypb.Call{Tid: reader, Op: &sentrypb.Call_Syscall{Syscall: &sentrypb.Syscall{Sysno: unix.SYS_READ,
		Args: []uint64{rfd, buf, uint64(len(ahead)), 0, 0, 0}, PipeConsumed: true, Posted: true}}}
	r.mu.Lock()
	r.seq++
	consume.Seq = r.seq
	r.mu.Unlock()
	if rep, err := conn.Call(context.Background(), consume); err != nil || rep.Ret != int64(len(ahead)) {
		t.Fatalf("consuming read: %v, %v", rep, err)
	}
	if rep := r.recover(nil); rep.Ret != 0 {
		t.Fatalf("Restore lost %d objects", rep.Ret)
	}
	// Both are re-sent; the consuming read runs first.
	conn = r.conn
	consumed := make(chan *sentrypb.Reply, 1)
	go func() {
		rep, err := conn.Call(context.Background(), consume)
		if err != nil {
			t.Errorf("re-sent consuming read: %v", err)
		}
		consumed <- rep
	}()
	time.Sleep(50 * time.Millisecond)
	wrote := make(chan error, 1)
	go func() {
		rep, err := conn.Call(context.Background(), w)
		if err == nil && (rep.Errno != 0 || rep.Ret != int64(len(data))) {
			t.Errorf("re-sent write: ret %d errno %v, want %d", rep.Ret, unix.Errno(rep.Errno), len(data))
		}
		wrote <- err
	}()
	if rep := <-consumed; rep == nil || rep.Ret != int64(len(ahead)) {
		t.Fatalf("re-sent consuming read took %d bytes, want the copy's %d", rep.GetRet(), len(ahead))
	}
	// The reader reads on from the bytes after the copy's.
	from := readFirst + len(ahead)
	var got []byte
	for len(got) < len(data)-from {
		got = append(got, r.readStr(reader, rfd, min(64<<10, len(data)-from-len(got)))...)
	}
	if err := <-wrote; err != nil {
		t.Fatal(err)
	}
	if i := firstDiff(got, data[from:]); i >= 0 {
		t.Fatalf("the reader got the write's bytes wrong from byte %d after the copy's", i)
	}
}
