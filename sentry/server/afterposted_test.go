package server

import (
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
)

// TestAfterPostedWaitsForEarlierPosted: a posted call marked
// after_posted (a close a process with several threads posted) runs
// only once the posted calls of other threads that arrived before it
// have finished; one of its own thread's (which its worker ran before
// it, held unfinished by a run of attribute calls) it does not wait for.
func TestAfterPostedWaitsForEarlierPosted(t *testing.T) {
	for _, tc := range []struct {
		name string
		// earlierTid is the thread of the unfinished earlier posted
		// call; waits says the close waits for it.
		earlierTid int32
		waits      bool
	}{
		{name: "another thread's", earlierTid: 2, waits: true},
		{name: "its own thread's", earlierTid: 1, waits: false},
	} {
		t.Run(tc.name, func(t *testing.T) { testAfterPosted(t, tc.earlierTid, tc.waits) })
	}
}

func testAfterPosted(t *testing.T, earlierTid int32, waits bool) {
	e := started(t)
	m := e.mem
	c := func() *client {
		e.srv.mu.Lock()
		defer e.srv.mu.Unlock()
		for c := range e.srv.clients {
			return c
		}
		t.Fatal("no client")
		return nil
	}()
	waiting := func(seq uint64) bool {
		c.k.Mu.Lock()
		defer c.k.Mu.Unlock()
		_, out := c.postedOut[seq]
		return out
	}
	until := func(cond func() bool, d time.Duration) bool {
		for deadline := time.Now().Add(d); !cond() && time.Now().Before(deadline); {
			time.Sleep(2 * time.Millisecond)
		}
		return cond()
	}
	r := e.sys(1, unix.SYS_OPENAT, uint64(atFDCWD64), m.str("/tmp"), unix.O_RDONLY, 0)
	if r.Errno != 0 {
		t.Fatalf("open: %v", unix.Errno(r.Errno))
	}
	fd := uint64(r.Ret)
	// An unfinished posted call of the open's seq stands for a posted
	// call of thread earlierTid sent before the close.
	c.k.Mu.Lock()
	c.notePostedLocked(r.Seq, earlierTid)
	c.k.Mu.Unlock()
	call := &sentrypb.Call{Tid: 1, Op: &sentrypb.Call_Syscall{Syscall: &sentrypb.Syscall{
		Sysno: unix.SYS_CLOSE, Args: []uint64{fd, 0, 0, 0, 0, 0}, Posted: true, AfterPosted: true}}}
	if err := e.conn.Post(call); err != nil {
		t.Fatal(err)
	}
	if err := e.conn.SendPosted(); err != nil {
		t.Fatal(err)
	}
	if !waits {
		// The close ran while the earlier call is unfinished: its fd
		// is gone from the table.
		closed := func() bool {
			c.k.Mu.Lock()
			defer c.k.Mu.Unlock()
			p := c.k.Procs[1]
			if p == nil || p.FDs == nil {
				return false
			}
			return p.FDs.Entry(int32(fd)).File == nil
		}
		if !until(closed, 10*time.Second) {
			t.Fatal("the posted close marked after_posted waits for an earlier posted call of its own thread")
		}
		// A waited call waits for every earlier posted call, its own
		// thread's too.
		c.k.Mu.Lock()
		c.postedFinishedLocked(r.Seq)
		c.k.Mu.Unlock()
		e.fails(unix.EBADF, 1, unix.SYS_FCNTL, fd, unix.F_GETFD)
		return
	}
	if !until(func() bool { return waiting(call.Seq) }, 10*time.Second) {
		t.Fatal("the posted close marked after_posted was never seen waiting: it ran before the earlier posted call")
	}
	if until(func() bool { return !waiting(call.Seq) }, 300*time.Millisecond) {
		t.Fatal("the posted close marked after_posted ran before the earlier posted call finished")
	}
	c.k.Mu.Lock()
	c.postedFinishedLocked(r.Seq)
	c.k.Mu.Unlock()
	if !until(func() bool { return !waiting(call.Seq) }, 10*time.Second) {
		t.Fatal("the posted close did not run once the earlier posted call finished")
	}
	e.fails(unix.EBADF, 1, unix.SYS_FCNTL, fd, unix.F_GETFD)
}
