package mqueue

import (
	"bytes"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
	"google.golang.org/protobuf/proto"

	"github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/fdesc"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/fsimpl/anon"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/statekey"
)

// cookieSock is a CookieSocket that keeps what the kernel queued.
type cookieSock struct {
	anon.Base
	got [][]byte
}

func (s *cookieSock) QueueKernel(_ fdesc.Call, _ *fdesc.File, data []byte) {
	s.got = append(s.got, data)
}

func newCookieSock() (*fdesc.File, *cookieSock) {
	s := &cookieSock{Base: anon.NewBase(unix.S_IFSOCK | 0777)}
	return fdesc.NewFile(s, nil, nil, unix.O_RDWR), s
}

func testCookie() []byte {
	c := make([]byte, CookieLen)
	for i := range c {
		c[i] = byte(i + 1)
	}
	return c
}

// threadNotify registers pid's SIGEV_THREAD notification on q with sock
// (the registration takes a reference of its own).
func threadNotify(t *testing.T, r *Registry, q *Queue, pid int32, sock *fdesc.File) {
	t.Helper()
	sock.IncRef()
	if _, err := r.SetNotify(q, pid, &Notification{Notify: SigevThread, Signo: 5, Sock: sock, Cookie: testCookie()}); err != nil {
		t.Fatal(err)
	}
}

// wantCookie checks that s got one cookie with last byte how.
func wantCookie(t *testing.T, s *cookieSock, how byte) {
	t.Helper()
	want := testCookie()
	want[CookieLen-1] = how
	if len(s.got) != 1 || !bytes.Equal(s.got[0], want) {
		t.Fatalf("socket got %x, want one cookie %x", s.got, want)
	}
	s.got = nil
}

// TestNotifyThread: a SIGEV_THREAD registration sends its cookie with
// NOTIFY_WOKENUP when it fires, NOTIFY_REMOVED when its owner removes it
// (mq_notify(NULL), or a close: Flush), nothing when another process
// tries; it holds its socket until then; read(2) says NOTIFY:2 SIGNO:0.
func TestNotifyThread(t *testing.T) {
	r := NewRegistry(Hooks{})
	q, _ := r.Open(root, OpenOpts{Name: "q", Flags: unix.O_CREAT | unix.O_RDWR})
	sock, s := newCookieSock()
	defer sock.DecRef()

	threadNotify(t, r, q, 1, sock)
	if info := string(r.Info(q)); !strings.Contains(info, "NOTIFY:2 ") || !strings.Contains(info, "SIGNO:0 ") || !strings.Contains(info, "NOTIFY_PID:1 ") {
		t.Errorf("Info = %q, want NOTIFY:2 SIGNO:0 NOTIFY_PID:1", info)
	}
	if _, err := r.SetNotify(q, 2, &Notification{Notify: SigevNone}); err != unix.EBUSY {
		t.Errorf("second registration: %v, want EBUSY", err)
	}
	_, fired, _ := r.Send(q, 0, []byte("x"), 0, true)
	if fired == nil {
		t.Fatal("a send to the empty queue did not fire")
	}
	if len(s.got) != 0 {
		t.Fatal("the cookie went before Deliver")
	}
	fired.Deliver(nil, NotifyWokenUp)
	wantCookie(t, s, NotifyWokenUp)
	if r.Info(q); q.notify != nil {
		t.Error("the registration stayed after firing")
	}
	r.Receive(q, 0, true)

	// mq_notify(NULL): only the owner's removes it.
	threadNotify(t, r, q, 1, sock)
	if removed, _ := r.SetNotify(q, 2, nil); removed != nil {
		t.Error("another process removed the registration")
	}
	removed, _ := r.SetNotify(q, 1, nil)
	if removed == nil {
		t.Fatal("the owner's mq_notify(NULL) removed nothing")
	}
	removed.Deliver(nil, NotifyRemoved)
	wantCookie(t, s, NotifyRemoved)

	// A close by the owner (mqueue_flush_file); another's does nothing.
	threadNotify(t, r, q, 1, sock)
	f := r.NewFile(q, unix.O_RDWR)
	q.opens++
	f.Flush(2)
	if len(s.got) != 0 || q.notify == nil {
		t.Fatal("another process's close removed the registration")
	}
	f.Flush(1)
	wantCookie(t, s, NotifyRemoved)
	f.DecRef()

	// Every registration gave its reference back: ours is the last.
	if sock.Released() {
		t.Fatal("registrations dropped more references than they took")
	}
	sock.DecRef()
	if !sock.Released() {
		t.Error("a registration kept its socket")
	}
	sock.IncRef() // for the deferred DecRef
}

// TestNotifyThreadRecord: a SIGEV_THREAD registration's record names its
// socket by its description id and carries the cookie; restored, it is
// linked to the restored socket (LinkSockets) or, without one, dropped
// (Restored).
func TestNotifyThreadRecord(t *testing.T) {
	sock, s := newCookieSock()
	ids := map[*fdesc.File]uint64{sock: 42}
	r := NewRegistry(Hooks{FileID: func(f *fdesc.File) uint64 { return ids[f] }})
	q, _ := r.Open(root, OpenOpts{Name: "q", Flags: unix.O_CREAT | unix.O_RDWR})
	threadNotify(t, r, q, 7, sock)
	st := r.Record(statekey.Mqueue(q.ID())).GetMqueue()
	if st.GetNotify() != SigevThread || st.GetNotifyPid() != 7 || st.GetNotifySocket() != 42 || !bytes.Equal(st.GetNotifyCookie(), testCookie()) {
		t.Fatalf("record %v, want SIGEV_THREAD of pid 7 to socket 42 with the cookie", st)
	}

	restored, rs := newCookieSock()
	r2 := NewRegistry(Hooks{})
	if errs := r2.Restore([]*sentrypb.MqueueState{st}); len(errs) != 0 {
		t.Fatal(errs)
	}
	r2.LinkSockets(func(id uint64) *fdesc.File {
		if id == 42 {
			return restored
		}
		return nil
	})
	if lost := r2.Restored(); len(lost) != 0 {
		t.Fatalf("Restored dropped %v", lost)
	}
	q2 := r2.byName["q"]
	restored.DecRef() // the restore's own reference: the registration holds it
	if restored.Released() {
		t.Fatal("the restored registration holds no reference to its socket")
	}
	if st2 := r2.Record(statekey.Mqueue(q2.ID())).GetMqueue(); st2.GetNotifySocket() != 42 {
		t.Errorf("restored record names socket %d, want 42", st2.GetNotifySocket())
	}
	_, fired, _ := r2.Send(q2, 0, []byte("x"), 0, true)
	if fired == nil {
		t.Fatal("the restored registration did not fire")
	}
	fired.Deliver(nil, NotifyWokenUp)
	wantCookie(t, rs, NotifyWokenUp)
	if len(s.got) != 0 {
		t.Error("the old socket got the restored registration's cookie")
	}

	// Without its socket, the registration goes.
	r3 := NewRegistry(Hooks{})
	r3.Restore([]*sentrypb.MqueueState{st})
	r3.LinkSockets(func(uint64) *fdesc.File { return nil })
	q3 := r3.byName["q"]
	if lost := r3.Restored(); len(lost) != 1 || lost[0] != q3.ID() || q3.notify != nil {
		t.Errorf("Restored without the socket: lost %v, registration %+v", lost, q3.notify)
	}
	// A record without the cookie is refused.
	bad := proto.Clone(st).(*sentrypb.MqueueState)
	bad.NotifyCookie = nil
	if errs := NewRegistry(Hooks{}).Restore([]*sentrypb.MqueueState{bad}); len(errs) != 1 {
		t.Errorf("restore of a cookieless registration: %v, want one error", errs)
	}
}

// TestNotifyFiredPending: a registration fired by a send whose reply is
// not built yet stays in the record (its cookie is not the client's
// either), and goes with the send's Commit.
func TestNotifyFiredPending(t *testing.T) {
	r := NewRegistry(Hooks{})
	q, _ := r.Open(root, OpenOpts{Name: "q", Flags: unix.O_CREAT | unix.O_RDWR})
	sock, _ := newCookieSock()
	threadNotify(t, r, q, 1, sock)
	_, fired, _ := r.Send(q, 5, []byte("x"), 0, true)
	if fired == nil {
		t.Fatal("the send did not fire")
	}
	fired.Deliver(nil, NotifyWokenUp)
	if st := r.Record(statekey.Mqueue(q.ID())).GetMqueue(); st.GetNotifyPid() != 1 || st.GetNotify() != SigevThread || len(st.GetMessages()) != 0 {
		t.Errorf("record with the firing send pending: %v, want the registration and no message", st)
	}
	r.Commit(5)
	if st := r.Record(statekey.Mqueue(q.ID())).GetMqueue(); st.GetNotifyPid() != 0 || len(st.GetMessages()) != 1 {
		t.Errorf("record after the send's commit: %v, want no registration and the message", st)
	}
}
