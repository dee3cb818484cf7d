package epoll

import (
	"testing"

	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"

	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/fdesc"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/fsimpl/anon"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/wake"
)

// level is a file kind whose readiness the test sets.
type level struct {
	anon.Base
	ev      uint32
	changed wake.Notifier
}

func (l *level) Readiness(*fdesc.File) (uint32, <-chan struct{}) { return l.ev, l.changed.Wait() }

func (l *level) set(ev uint32) {
	l.ev = ev
	l.changed.Notify()
}

func newLevel() (*fdesc.File, *level) {
	l := &level{Base: anon.NewBase(0600)}
	return fdesc.NewFile(l, nil, nil, unix.O_RDWR), l
}

func collect(t *testing.T, ep *File) []Event {
	t.Helper()
	evs, _, _ := ep.Collect(noWaiter, 16, true)
	return evs
}

func TestTriggers(t *testing.T) {
	for _, tc := range []struct {
		name  string
		flags uint32
		// want are the event counts of three collects with the file
		// readable throughout, then of one after a new change.
		want [4]int
	}{
		{name: "level", want: [4]int{1, 1, 1, 1}},
		{name: "edge", flags: ET, want: [4]int{1, 0, 0, 1}},
		{name: "one-shot", flags: Oneshot, want: [4]int{1, 0, 0, 0}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			epf := New(0)
			ep := epf.Impl.(*File)
			f, l := newLevel()
			l.set(linux.POLLIN)
			if err := ep.Ctl(noWaiter, unix.EPOLL_CTL_ADD, f, 3, linux.POLLIN|tc.flags, 42); err != nil {
				t.Fatal(err)
			}
			var got [4]int
			for i := range 3 {
				evs := collect(t, ep)
				got[i] = len(evs)
				if len(evs) == 1 && (evs[0].Data != 42 || evs[0].Events != linux.POLLIN) {
					t.Errorf("event %+v", evs[0])
				}
			}
			l.set(linux.POLLIN)
			got[3] = len(collect(t, ep))
			if got != tc.want {
				t.Errorf("events per collect %v, want %v", got, tc.want)
			}
			if ins := ep.Interests(); len(ins) != 1 || ins[0].Disabled != (tc.flags == Oneshot) {
				t.Errorf("Interests() = %+v", ins)
			}
		})
	}
}

func TestCtl(t *testing.T) {
	epf := New(0)
	ep := epf.Impl.(*File)
	other := New(0)
	f, _ := newLevel()
	for _, tc := range []struct {
		name    string
		op      int
		f       *fdesc.File
		fd      int32
		events  uint32
		wantErr error
	}{
		{name: "add", op: unix.EPOLL_CTL_ADD, f: f, fd: 3, events: linux.POLLIN},
		{name: "add again", op: unix.EPOLL_CTL_ADD, f: f, fd: 3, events: linux.POLLIN, wantErr: unix.EEXIST},
		{name: "same file, other fd", op: unix.EPOLL_CTL_ADD, f: f, fd: 4, events: linux.POLLOUT},
		{name: "mod", op: unix.EPOLL_CTL_MOD, f: f, fd: 4, events: linux.POLLIN},
		{name: "mod absent", op: unix.EPOLL_CTL_MOD, f: f, fd: 5, events: linux.POLLIN, wantErr: unix.ENOENT},
		{name: "del", op: unix.EPOLL_CTL_DEL, f: f, fd: 4},
		{name: "del absent", op: unix.EPOLL_CTL_DEL, f: f, fd: 4, wantErr: unix.ENOENT},
		{name: "exclusive with a bad bit", op: unix.EPOLL_CTL_ADD, f: f, fd: 6, events: Exclusive | linux.POLLPRI, wantErr: unix.EINVAL},
		{name: "exclusive", op: unix.EPOLL_CTL_ADD, f: f, fd: 6, events: Exclusive | linux.POLLIN},
		{name: "mod exclusive", op: unix.EPOLL_CTL_MOD, f: f, fd: 6, events: linux.POLLIN, wantErr: unix.EINVAL},
		{name: "exclusive epoll", op: unix.EPOLL_CTL_ADD, f: other, fd: 7, events: Exclusive | linux.POLLIN, wantErr: unix.EINVAL},
		{name: "nested epoll", op: unix.EPOLL_CTL_ADD, f: other, fd: 7, events: linux.POLLIN},
		{name: "bad op", op: 99, f: f, fd: 3, wantErr: unix.EINVAL},
	} {
		if err := ep.Ctl(noWaiter, tc.op, tc.f, tc.fd, tc.events, 0); err != tc.wantErr {
			t.Errorf("%s: Ctl = %v, want %v", tc.name, err, tc.wantErr)
		}
	}
	// other inside ep: adding ep to other makes a loop.
	if err := other.Impl.(*File).Ctl(noWaiter, unix.EPOLL_CTL_ADD, epf, 8, linux.POLLIN, 0); err != unix.ELOOP {
		t.Errorf("a loop: Ctl = %v, want ELOOP", err)
	}
	if n := len(ep.Interests()); n != 3 {
		t.Errorf("%d interests, want 3 (fd 3, 6, 7)", n)
	}
	// A closed description's interest goes.
	f.DecRef()
	if ins := ep.Interests(); len(ins) != 1 || ins[0].FD != 7 {
		t.Errorf("Interests() after close = %+v", ins)
	}
}

// TestOrder: events come in the order the interests became ready, a
// reported level-triggered one going to the back.
func TestOrder(t *testing.T) {
	ep := New(0).Impl.(*File)
	a, la := newLevel()
	b, lb := newLevel()
	ep.Ctl(noWaiter, unix.EPOLL_CTL_ADD, a, 1, linux.POLLIN, 1)
	ep.Ctl(noWaiter, unix.EPOLL_CTL_ADD, b, 2, linux.POLLIN, 2)
	lb.set(linux.POLLIN)
	collect(t, ep) // b reported: to the back
	la.set(linux.POLLIN)
	evs, _, _ := ep.Collect(noWaiter, 1, true)
	if len(evs) != 1 || evs[0].Data != 2 {
		t.Errorf("first event %+v, want b's (ready first)", evs)
	}
	evs, _, _ = ep.Collect(noWaiter, 2, true)
	if len(evs) != 2 || evs[0].Data != 1 || evs[1].Data != 2 {
		t.Errorf("events %+v, want a then b", evs)
	}
	// A restored instance reports its interests again.
	r := New(0).Impl.(*File)
	r.Restore(ep.Interests())
	if evs := collect(t, r); len(evs) != 2 {
		t.Errorf("restored events %+v", evs)
	}
	// The instance is readable for a poll while an interest is.
	if ev, _ := ep.Readiness(nil); ev&linux.POLLIN == 0 {
		t.Errorf("Readiness = %#x", ev)
	}
}

// TestIdleWatch checks what an idle lease is granted on: nothing ready,
// every interest of the kinds allowed; the channels returned close at a
// change of an interest's readiness and at an epoll_ctl.
func TestIdleWatch(t *testing.T) {
	allowAll := func(*fdesc.File) bool { return true }
	for _, tc := range []struct {
		name     string
		ready    bool
		allow    func(*fdesc.File) bool
		wantIdle bool
	}{
		{name: "idle", allow: allowAll, wantIdle: true},
		{name: "ready", ready: true, allow: allowAll},
		{name: "kind refused", allow: func(*fdesc.File) bool { return false }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			epf := New(0)
			ep := epf.Impl.(*File)
			f, l := newLevel()
			if tc.ready {
				l.set(linux.POLLIN)
			}
			if err := ep.Ctl(noWaiter, unix.EPOLL_CTL_ADD, f, 3, linux.POLLIN, 1); err != nil {
				t.Fatal(err)
			}
			chs, idle := ep.IdleWatch(noWaiter, tc.allow)
			if idle != tc.wantIdle {
				t.Fatalf("IdleWatch: idle %v, want %v", idle, tc.wantIdle)
			}
			if !idle {
				return
			}
			closed := func() bool {
				for _, ch := range chs {
					select {
					case <-ch:
						return true
					default:
					}
				}
				return false
			}
			if closed() {
				t.Fatal("a channel closed with no change")
			}
			l.set(linux.POLLIN)
			if !closed() {
				t.Error("no channel closed when the interest became ready")
			}
			l.set(0)
			chs, _ = ep.IdleWatch(noWaiter, tc.allow)
			g, _ := newLevel()
			if err := ep.Ctl(noWaiter, unix.EPOLL_CTL_ADD, g, 4, linux.POLLIN, 2); err != nil {
				t.Fatal(err)
			}
			if !closed() {
				t.Error("no channel closed at an epoll_ctl")
			}
		})
	}
}
