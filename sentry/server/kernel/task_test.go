package kernel

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/runsc-decoupled/runsc-decoupled/proto/goferpb"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/auth"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/fdesc"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/fdesc/fdesctest"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/syserr"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/vfs"
)

// newTask is a call of process pid (credentials cr) of a kernel whose
// gofer origin id is "client".
func newTask(seq uint64, pid int32, cr auth.Creds) *Task {
	k := &Kernel{OriginID: "client", Done: make(chan struct{})}
	th := &Thread{TID: pid, Proc: &Process{PID: pid, Creds: cr}, Dead: make(chan struct{})}
	return &Task{Kernel: k, Thread: th, CallSeq: seq, Dead: th.Dead}
}

func TestTaskNextGoferOrigin(t *testing.T) {
	c := newTask(7, 1, auth.Creds{})
	for part := uint32(0); part < 3; part++ {
		var o goferpb.Origin
		if !c.NextGoferOrigin(&o) || o.ClientId != "client" || o.Seq != 7 || o.Part != part {
			t.Fatalf("origin %d = %v, want client/7/%d", part, &o, part)
		}
	}
	var o goferpb.Origin
	if own := newTask(0, 1, auth.Creds{}); own.NextGoferOrigin(&o) || own.GoferParts != 0 || o.ClientId != "" {
		t.Errorf("the server's own call (seq 0) got an origin")
	}
}

func TestTaskCredsAndPID(t *testing.T) {
	proc := auth.Creds{RUID: 5, EUID: 5, FSUID: 5}
	realIDs := auth.Creds{RUID: 5, EUID: 0, FSUID: 0}
	for _, tc := range []struct {
		name    string
		task    *Task
		creds   auth.Creds
		pid     int32
		useReal bool
	}{
		{"process", newTask(1, 42, proc), proc, 42, false},
		{"access override", newTask(1, 42, proc), realIDs, 42, true},
		{"server's own", &Task{Kernel: &Kernel{}}, auth.Creds{}, 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.useReal {
				tc.task.AccessCreds = &realIDs
			}
			if got := tc.task.Creds(); got.EUID != tc.creds.EUID || got.FSUID != tc.creds.FSUID || got.RUID != tc.creds.RUID {
				t.Errorf("Creds = %+v, want %+v", got, tc.creds)
			}
			if got := tc.task.PID(); got != tc.pid {
				t.Errorf("PID = %d, want %d", got, tc.pid)
			}
		})
	}
	if (*Task)(nil).Creds().EUID != 0 {
		t.Errorf("a nil call's credentials are not root's")
	}
}

func TestTaskRecordOffset(t *testing.T) {
	f, g := &fdesc.File{}, &fdesc.File{}
	c := newTask(1, 1, auth.Creds{})
	c.RecordOffset(f, 1, 10)
	c.RecordOffset(g, 1, 3)
	c.RecordOffset(f, 2, 20)
	if got := c.Effects().Offsets; len(got) != 2 || got[0].File != f || got[0].Ver != 2 || got[0].Off != 20 || got[1].File != g || got[1].Off != 3 {
		t.Errorf("offsets = %+v, want f at 20 (ver 2), g at 3", got)
	}
	if f.OffRep.Load() != 0 {
		t.Errorf("a call's offset was reported before its reply")
	}
	(*Task)(nil).RecordOffset(f, 3, 30)
	if got := f.OffRep.Load(); got != 30 {
		t.Errorf("a nil call's offset reported %d, want 30 at once", got)
	}
}

func TestTaskWalkNotes(t *testing.T) {
	c := newTask(1, 1, auth.Creds{})
	d := &vfs.Dentry{}
	c.Found(d)
	c.Searched(d)
	if c.NotLeasable {
		t.Fatalf("a call without a path view became unleasable")
	}
	c.PathView = &PathView{}
	for i := 0; i < maxWalkDentries; i++ {
		c.Found(d)
		c.Searched(d)
	}
	if c.NotLeasable || len(c.PathView.Found) != maxWalkDentries || len(c.PathView.Searched) != maxWalkDentries {
		t.Fatalf("after %d notes: unleasable %v, %d found, %d searched", maxWalkDentries, c.NotLeasable, len(c.PathView.Found), len(c.PathView.Searched))
	}
	c.Found(d)
	if !c.NotLeasable || len(c.PathView.Found) != maxWalkDentries {
		t.Errorf("a walk past %d dentries: unleasable %v, %d found", maxWalkDentries, c.NotLeasable, len(c.PathView.Found))
	}
	(*Task)(nil).Searched(d) // the server's own walk notes nothing
}

// TestTaskWalkNotesAllocs: a walk's notes of up to walkNotesCap
// directories and names allocate once each.
func TestTaskWalkNotesAllocs(t *testing.T) {
	d := &vfs.Dentry{}
	for _, tc := range []struct {
		notes  int
		allocs float64
	}{
		{notes: 1, allocs: 2},
		{notes: 6, allocs: 2},
		{notes: walkNotesCap, allocs: 2},
	} {
		t.Run(fmt.Sprint(tc.notes), func(t *testing.T) {
			c := newTask(1, 1, auth.Creds{})
			n := testing.AllocsPerRun(100, func() {
				c.PathView = &PathView{}
				for range tc.notes {
					c.Searched(d)
					c.Found(d)
				}
			})
			if len(c.PathView.Searched) != tc.notes || len(c.PathView.Found) != tc.notes {
				t.Fatalf("%d searched, %d found, want %d each", len(c.PathView.Searched), len(c.PathView.Found), tc.notes)
			}
			// The view itself escapes to the heap: one allocation.
			if n > 1+tc.allocs {
				t.Errorf("%d notes of each kind: %v allocations beside the view, want %v", tc.notes, n-1, tc.allocs)
			}
		})
	}
}

func TestTaskBlock(t *testing.T) {
	closed := make(chan struct{})
	close(closed)
	for _, tc := range []struct {
		name    string
		wake    func(c *Task, intr chan struct{})
		ch      <-chan struct{}
		timeout bool
		want    error
	}{
		{"woken", func(*Task, chan struct{}) {}, closed, false, nil},
		{"interrupted", func(_ *Task, intr chan struct{}) { close(intr) }, nil, false, syserr.RestartSys},
		{"killed", func(c *Task, _ chan struct{}) { close(c.Thread.Dead) }, nil, false, syserr.RestartSys},
		{"client freed", func(c *Task, _ chan struct{}) { close(c.Kernel.Done) }, nil, false, syserr.RestartSys},
		{"timed out", func(*Task, chan struct{}) {}, nil, true, unix.ETIMEDOUT},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newTask(1, 1, auth.Creds{})
			intr := make(chan struct{})
			c.Intr = intr
			tc.wake(c, intr)
			var timeout <-chan time.Time
			if tc.timeout {
				timeout = time.After(time.Millisecond)
			}
			if err := c.Block(tc.ch, timeout); !errors.Is(err, tc.want) && err != tc.want {
				t.Errorf("Block = %v, want %v", err, tc.want)
			}
			if c.Thread.Sleeping.Load() {
				t.Errorf("the thread still shows as sleeping")
			}
		})
	}
}

func TestTaskFromCall(t *testing.T) {
	c := newTask(1, 1, auth.Creds{})
	for _, tc := range []struct {
		name string
		call fdesc.Call
		want *Task
	}{
		{"a task", c, c},
		{"nil", nil, nil},
		{"another call", &fdesctest.Call{}, nil},
	} {
		if got := TaskFromCall(tc.call); got != tc.want {
			t.Errorf("%s: TaskFromCall = %p, want %p", tc.name, got, tc.want)
		}
	}
}
