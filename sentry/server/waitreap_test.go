package server

import (
	"sync"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/kernel"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/syscalls"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/statekey"
)

// TestWaitReapRecordsGoWithItsReply: a child exits and its parent's wait
// reaps it at once; the child's exit reply (or any message) is built
// before the wait's. That message must report the child as its parent's
// zombie, and only the wait's reply may delete its records: a server
// that dies before the wait's reply then leaves the zombie in the
// client's log, for the re-sent wait to reap on the successor. (It
// reported the child deleted, as the reap had already removed it from
// the tables: the re-sent wait failed with ECHILD and the child's
// re-sent exit_group with ESRCH; chaos workload create-remove.)
func TestWaitReapRecordsGoWithItsReply(t *testing.T) {
	srv, err := New(Config{Gofer: startGofer(t, newRoot(t)), Log: testLog()})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		wait func(child int32) []uint64 // sysno, then args
	}{
		{"wait4 any", func(int32) []uint64 { return []uint64{unix.SYS_WAIT4, ^uint64(0), 0, 0, 0} }},
		{"wait4 pid", func(c int32) []uint64 { return []uint64{unix.SYS_WAIT4, uint64(c), 0, 0, 0} }},
		{"waitid P_ALL", func(int32) []uint64 { return []uint64{unix.SYS_WAITID, unix.P_ALL, 0, 0, unix.WEXITED, 0} }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := fuzzClient(t, srv)
			defer c.destroy()
			k := c.k
			// The client's log: every record of every message sent
			// except the replies it lost (folded by key, deleted removes).
			var mu sync.Mutex
			log := make(map[string]*sentrypb.StateRecord)
			lost := make(map[uint64]bool)
			var seen []*sentrypb.ServerMessage
			c.stream.setSender(func(m *sentrypb.ServerMessage) error {
				mu.Lock()
				defer mu.Unlock()
				seen = append(seen, m)
				var recs []*sentrypb.StateRecord
				if r := m.GetReply(); r != nil {
					if lost[r.Seq] {
						return nil
					}
					recs = r.State
				} else {
					recs = m.GetPush().GetState().GetRecords()
				}
				for _, rec := range recs {
					if rec.Deleted {
						delete(log, rec.Key)
					} else {
						log[rec.Key] = rec
					}
				}
				return nil
			})
			run := func(tid int32, seq uint64, sysno uint64, args ...uint64) *sentrypb.Reply {
				t.Helper()
				k.Mu.Lock()
				th := k.Threads[tid]
				k.Mu.Unlock()
				if th == nil {
					t.Fatalf("no thread %d", tid)
				}
				return dispatch(k, th, seq, &sentrypb.Syscall{Sysno: int32(sysno), Args: args}, make(chan struct{}), nil, new(kernel.Task))
			}

			fork := run(1, 1, unix.SYS_CLONE, uint64(unix.SIGCHLD))
			child := fork.GetClone().GetChildTid()
			if fork.Errno != 0 || child == 0 {
				t.Fatalf("clone: %v", fork)
			}
			c.stream.reply(fork)
			childKey := statekey.Proc(child).String()
			if log[childKey] == nil {
				t.Fatalf("the clone's reply did not report the child: %v", log)
			}

			// The child exits as sysExitGroup does, and the parent's
			// wait reaps it in the window between sysExitGroup's unlock
			// and its deferred pushes (the SIGCHLD for the parent),
			// before either reply is built.
			k.Mu.Lock()
			var d kernel.Deferred
			k.ExitProcessLocked(k.Procs[child], kernel.ExitWaitStatus(3), &d)
			k.Mu.Unlock()
			wargs := tc.wait(child)
			wait := run(1, 3, wargs[0], wargs[1:]...)
			d.Run(k.Out)
			exit := &sentrypb.Reply{Seq: 2, Action: &sentrypb.Reply_Exit{Exit: &sentrypb.ExitAction{Group: true, WaitStatus: kernel.ExitWaitStatus(3)}}}
			if wait.Errno != 0 {
				t.Fatalf("wait: %v", unix.Errno(wait.Errno))
			}
			if tc.name != "waitid P_ALL" && wait.Ret != int64(child) {
				t.Fatalf("wait returned %d, want %d", wait.Ret, child)
			}
			// The exit's reply goes next; the wait's is lost with the
			// server.
			mu.Lock()
			lost[3] = true
			mu.Unlock()
			c.stream.reply(exit)
			c.stream.reply(wait)

			mu.Lock()
			defer mu.Unlock()
			rec := log[childKey].GetProcess()
			if rec == nil {
				t.Fatalf("the log lost process %d before the wait's reply arrived (%d messages sent)", child, len(seen))
			}
			if !rec.Zombie || rec.ExitStatus != 3<<8 || rec.Ppid != 1 {
				t.Errorf("process %d is logged as %v, want the zombie of 1 with status %#x", child, rec, 3<<8)
			}
			// The wait's own reply deletes the child's records.
			var deleted []string
			for _, rec := range wait.State {
				if rec.Deleted {
					deleted = append(deleted, rec.Key)
				}
			}
			for _, key := range []string{childKey, statekey.Thread(child).String()} {
				found := false
				for _, d := range deleted {
					found = found || d == key
				}
				if !found {
					t.Errorf("the wait's reply does not delete %s (it deletes %v)", key, deleted)
				}
			}
			// And the pid is free once that reply is built.
			k.Mu.Lock()
			_, inUse := k.Procs[child]
			k.Mu.Unlock()
			if inUse {
				t.Errorf("process %d is still in the table after the wait's reply", child)
			}
		})
	}
}

// TestCallOfUnknownThread: a call from a thread the server does not know
// fails with ESRCH, except an exit or exit_group, which ends the thread
// as it asked: it is one re-sent after a failure whose first execution
// ran on the dead server, where a wait then reaped the process, so the
// successor never heard of it (ESRCH left the thread spinning in libc's
// exit loop on the client).
func TestCallOfUnknownThread(t *testing.T) {
	srv, err := New(Config{Gofer: startGofer(t, newRoot(t)), Log: testLog()})
	if err != nil {
		t.Fatal(err)
	}
	c := fuzzClient(t, srv)
	defer c.destroy()
	replies := make(chan *sentrypb.Reply, 8)
	c.stream.setSender(func(m *sentrypb.ServerMessage) error {
		if r := m.GetReply(); r != nil {
			replies <- r
		}
		return nil
	})
	const unknown = 4242
	for i, tc := range []struct {
		sysno     uintptr
		arg       uint64
		wantErrno unix.Errno
		want      *sentrypb.ExitAction
	}{
		{unix.SYS_EXIT_GROUP, 3, 0, &sentrypb.ExitAction{Group: true, WaitStatus: 3 << 8}},
		{unix.SYS_EXIT, 0x105, 0, &sentrypb.ExitAction{WaitStatus: 5 << 8}},
		{unix.SYS_GETPID, 0, unix.ESRCH, nil},
		{unix.SYS_CLOSE, 0, unix.ESRCH, nil},
	} {
		seq := uint64(100 + i)
		c.enqueue(&sentrypb.Call{Seq: seq, Tid: unknown, Op: &sentrypb.Call_Syscall{Syscall: &sentrypb.Syscall{
			Sysno: int32(tc.sysno), Args: []uint64{tc.arg, 0, 0, 0, 0, 0}}}})
		r := <-replies
		name := syscalls.Name(int32(tc.sysno))
		if r.Seq != seq || unix.Errno(r.Errno) != tc.wantErrno {
			t.Errorf("%s: reply seq %d errno %v, want seq %d errno %v", name, r.Seq, unix.Errno(r.Errno), seq, tc.wantErrno)
		}
		got := r.GetExit()
		if (got == nil) != (tc.want == nil) || got != nil && (got.Group != tc.want.Group || got.WaitStatus != tc.want.WaitStatus || got.AppExit) {
			t.Errorf("%s: exit action %v, want %v", name, got, tc.want)
		}
	}
}
