package server

import (
	"context"
	"encoding/binary"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// mqAttr is a struct mq_attr in the application's memory.
func (m *appMem) mqAttr(flags, maxMsg, msgSize int64) uint64 {
	b := make([]byte, 64)
	binary.LittleEndian.PutUint64(b[0:], uint64(flags))
	binary.LittleEndian.PutUint64(b[8:], uint64(maxMsg))
	binary.LittleEndian.PutUint64(b[16:], uint64(msgSize))
	return m.alloc(b)
}

// TestMqueueRecovery: POSIX message queues come back after a server
// failure with their names, attributes, queued messages (in priority
// order), notification registration and open descriptions (access mode,
// O_NONBLOCK); an unlinked queue still open comes back without its name;
// a receive whose reply was lost takes its message once when re-sent,
// and a receive blocked at the failure, re-sent, gets the next message.
func TestMqueueRecovery(t *testing.T) {
	r := newReplayer(t)
	r.start()
	attr := r.mem.mqAttr(0, 4, 32)
	q := uint64(r.ok(1, unix.SYS_MQ_OPEN, r.mem.str("rd-rec"), unix.O_CREAT|unix.O_RDWR, 0640, attr))
	w := uint64(r.ok(1, unix.SYS_MQ_OPEN, r.mem.str("rd-rec"), unix.O_WRONLY|unix.O_NONBLOCK, 0, 0))
	g := uint64(r.ok(1, unix.SYS_MQ_OPEN, r.mem.str("rd-gone"), unix.O_CREAT|unix.O_RDWR, 0600, attr))
	e := uint64(r.ok(1, unix.SYS_MQ_OPEN, r.mem.str("rd-empty"), unix.O_CREAT|unix.O_RDWR, 0600, attr))
	r.ok(1, unix.SYS_MQ_UNLINK, r.mem.str("rd-gone"))
	r.ok(1, unix.SYS_MQ_TIMEDSEND, g, r.mem.str("kept"), 4, 3, 0)
	for _, m := range []struct {
		text string
		prio uint64
	}{{"a", 1}, {"bb", 5}, {"ccc", 1}} {
		r.ok(1, unix.SYS_MQ_TIMEDSEND, w, r.mem.str(m.text), uint64(len(m.text)), m.prio, 0)
	}
	sev := make([]byte, 64)
	binary.LittleEndian.PutUint64(sev[0:], 7)
	binary.LittleEndian.PutUint32(sev[8:], uint32(unix.SIGUSR1))
	r.ok(1, unix.SYS_MQ_NOTIFY, e, r.mem.alloc(sev))

	// A receive answered, its reply lost with the server.
	buf, prio := r.mem.zeros(32), r.mem.zeros(4)
	lost := r.syscallCall(1, unix.SYS_MQ_TIMEDRECEIVE, q, buf, 32, prio, 0)
	if rep := r.call(lost, true); rep.Errno != 0 || rep.Ret != 2 {
		t.Fatalf("receive: ret %d errno %v", rep.Ret, unix.Errno(rep.Errno))
	}
	// A receive blocked on the empty queue at the failure, from a child.
	child := r.sys(1, unix.SYS_CLONE, uint64(unix.SIGCHLD)).GetClone().GetChildTid()
	if child == 0 {
		t.Fatal("fork failed")
	}
	cbuf := r.mem.zeros(32)
	blocked := r.syscallCall(child, unix.SYS_MQ_TIMEDRECEIVE, e, cbuf, 32, 0, 0)
	r.mu.Lock()
	r.seq++
	blocked.Seq = r.seq
	r.mu.Unlock()
	go r.conn.Call(context.Background(), blocked)
	time.Sleep(50 * time.Millisecond)

	if rep := r.recover(nil); rep.Ret != 0 {
		t.Fatalf("Restore lost %d objects", rep.Ret)
	}
	got := make(chan string, 1)
	conn := r.conn
	go func() {
		rep, err := conn.Call(context.Background(), blocked)
		if err != nil || rep.Errno != 0 {
			got <- "error"
			return
		}
		r.mem.apply(rep.Outputs)
		got <- string(r.mem.bytes(cbuf, int(rep.Ret)))
	}()

	// The lost receive, re-sent, takes the highest-priority message once.
	rep := r.call(lost, false)
	r.mem.apply(rep.Outputs)
	if rep.Errno != 0 || string(r.mem.bytes(buf, int(rep.Ret))) != "bb" || r.mem.u32(prio) != 5 {
		t.Fatalf("re-sent receive: ret %d errno %v %q prio %d, want bb prio 5", rep.Ret, unix.Errno(rep.Errno), r.mem.bytes(buf, max(int(rep.Ret), 0)), r.mem.u32(prio))
	}
	for _, want := range []string{"a", "ccc"} {
		n := r.ok(1, unix.SYS_MQ_TIMEDRECEIVE, q, buf, 32, prio, 0)
		if s := string(r.mem.bytes(buf, int(n))); s != want || r.mem.u32(prio) != 1 {
			t.Errorf("receive %q prio %d, want %q prio 1", s, r.mem.u32(prio), want)
		}
	}
	// The descriptions kept their access mode and flags, the queue its
	// attributes.
	old := r.mem.zeros(64)
	r.ok(1, unix.SYS_MQ_GETSETATTR, w, 0, old)
	if a := r.mem.bytes(old, 32); binary.LittleEndian.Uint64(a) != unix.O_NONBLOCK ||
		binary.LittleEndian.Uint64(a[8:]) != 4 || binary.LittleEndian.Uint64(a[16:]) != 32 || binary.LittleEndian.Uint64(a[24:]) != 0 {
		t.Errorf("attributes after the restore: %v", a)
	}
	r.fails(unix.EBADF, unix.SYS_MQ_TIMEDRECEIVE, w, buf, 32, 0, 0)
	r.fails(unix.EEXIST, unix.SYS_MQ_OPEN, r.mem.str("rd-rec"), unix.O_CREAT|unix.O_EXCL|unix.O_RDWR, 0600, 0)
	// The unlinked queue kept its message, not its name.
	r.fails(unix.ENOENT, unix.SYS_MQ_OPEN, r.mem.str("rd-gone"), unix.O_RDWR, 0, 0)
	if n := r.ok(1, unix.SYS_MQ_TIMEDRECEIVE, g, buf, 32, prio, 0); string(r.mem.bytes(buf, int(n))) != "kept" {
		t.Errorf("unlinked queue's message %q, want kept", r.mem.bytes(buf, int(n)))
	}
	// The registration came back; a message for the blocked receiver
	// does not fire it.
	line := r.mem.zeros(80)
	n := r.ok(1, unix.SYS_READ, e, line, 80)
	if s := string(r.mem.bytes(line, int(n))); !strings.Contains(s, "NOTIFY:0     SIGNO:10 ") || !strings.Contains(s, "NOTIFY_PID:1 ") {
		t.Errorf("status line after the restore: %q", s)
	}
	r.ok(1, unix.SYS_MQ_TIMEDSEND, e, r.mem.str("late"), 4, 0, 0)
	select {
	case s := <-got:
		if s != "late" {
			t.Errorf("re-sent blocked receive got %q, want late", s)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the re-sent blocked receive did not return")
	}
}
