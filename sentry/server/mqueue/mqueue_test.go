package mqueue

import (
	"errors"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/auth"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/statekey"
)

var (
	root = Caller{Pid: 1, Creds: auth.RootCreds(0, 0)}
	user = Caller{Pid: 2, Creds: auth.RootCreds(1000, 1000)}
)

func TestOpen(t *testing.T) {
	r := NewRegistry(Hooks{})
	if _, err := r.Open(root, OpenOpts{Name: "q", Flags: unix.O_CREAT | unix.O_RDWR, Mode: 0600}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		c    Caller
		o    OpenOpts
		want error
	}{
		{"empty", root, OpenOpts{Name: "", Flags: unix.O_RDWR}, unix.ENOENT},
		{"slash", root, OpenOpts{Name: "a/b", Flags: unix.O_RDWR | unix.O_CREAT}, unix.EACCES},
		{"dotdot", root, OpenOpts{Name: "..", Flags: unix.O_RDWR | unix.O_CREAT}, unix.EACCES},
		{"missing", root, OpenOpts{Name: "x", Flags: unix.O_RDWR}, unix.ENOENT},
		{"excl", root, OpenOpts{Name: "q", Flags: unix.O_RDWR | unix.O_CREAT | unix.O_EXCL}, unix.EEXIST},
		{"accmode 3", root, OpenOpts{Name: "q", Flags: unix.O_RDWR | unix.O_WRONLY}, unix.EINVAL},
		{"mode", user, OpenOpts{Name: "q", Flags: unix.O_RDONLY}, unix.EACCES},
		{"maxmsg 0", root, OpenOpts{Name: "n", Flags: unix.O_CREAT, Attr: &Attr{MaxMsg: 0, MsgSize: 1}}, unix.EINVAL},
		{"user maxmsg", user, OpenOpts{Name: "n", Flags: unix.O_CREAT, Attr: &Attr{MaxMsg: 11, MsgSize: 1}}, unix.EINVAL},
		{"user msgsize", user, OpenOpts{Name: "n", Flags: unix.O_CREAT, Attr: &Attr{MaxMsg: 10, MsgSize: 8193}}, unix.EINVAL},
		{"root hard max", root, OpenOpts{Name: "n", Flags: unix.O_CREAT, Attr: &Attr{MaxMsg: HardMsgMax + 1, MsgSize: 1}}, unix.EINVAL},
		{"root big", root, OpenOpts{Name: "n", Flags: unix.O_CREAT, Attr: &Attr{MaxMsg: HardMsgMax, MsgSize: 1}}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := r.Open(tc.c, tc.o); !errors.Is(err, tc.want) && err != tc.want {
				t.Errorf("Open = %v, want %v", err, tc.want)
			}
		})
	}
	if err := r.Unlink(user, "q"); err != unix.EACCES {
		t.Errorf("another user's Unlink = %v, want EACCES", err)
	}
}

// TestOrderAndRecord: messages go highest priority first, FIFO within
// one; a record leaves out the sends and receives not yet committed.
func TestOrderAndRecord(t *testing.T) {
	r := NewRegistry(Hooks{})
	q, err := r.Open(root, OpenOpts{Name: "q", Flags: unix.O_CREAT | unix.O_RDWR, Attr: &Attr{MaxMsg: 4, MsgSize: 8}})
	if err != nil {
		t.Fatal(err)
	}
	for i, m := range []struct {
		s    string
		prio uint32
	}{{"a", 1}, {"b", 5}, {"c", 1}} {
		if _, _, err := r.Send(q, uint64(i+1), []byte(m.s), m.prio, true); err != nil {
			t.Fatal(err)
		}
	}
	r.Commit(1)
	r.Commit(2)
	// Send 3 ("c") pending; receive 4 takes "b", pending.
	if data, prio, _, err := r.Receive(q, 4, true); err != nil || string(data) != "b" || prio != 5 {
		t.Fatalf("Receive = %q %d %v, want b 5", data, prio, err)
	}
	rec := r.Record(statekey.Mqueue(q.ID())).GetMqueue()
	var got []string
	for _, m := range rec.GetMessages() {
		got = append(got, string(m.Data))
	}
	if len(got) != 2 || got[0] != "b" || got[1] != "a" {
		t.Errorf("record with send 3 and receive 4 pending holds %q, want [b a]", got)
	}
	r.Commit(3)
	r.Commit(4)
	got = nil
	for _, m := range r.Record(statekey.Mqueue(q.ID())).GetMqueue().GetMessages() {
		got = append(got, string(m.Data))
	}
	if len(got) != 2 || got[0] != "a" || got[1] != "c" {
		t.Errorf("committed record holds %q, want [a c]", got)
	}
}

// TestNotify: one registration (EBUSY), fired by a send to an empty
// queue with no receiver waiting, then gone.
func TestNotify(t *testing.T) {
	r := NewRegistry(Hooks{})
	q, _ := r.Open(root, OpenOpts{Name: "q", Flags: unix.O_CREAT | unix.O_RDWR})
	if _, err := r.SetNotify(q, 1, &Notification{Notify: SigevSignal, Signo: 10}); err != nil {
		t.Fatal(err)
	}
	if _, err := r.SetNotify(q, 2, &Notification{Notify: SigevNone}); err != unix.EBUSY {
		t.Errorf("second registration: %v, want EBUSY", err)
	}
	_, _, w, _ := r.Receive(q, 0, false)
	if _, fired, _ := r.Send(q, 0, []byte("x"), 0, false); fired != nil {
		t.Error("a send to a waiting receiver fired the registration")
	}
	w.Done()
	r.Receive(q, 0, false)
	if _, fired, _ := r.Send(q, 0, []byte("x"), 0, false); fired == nil || fired.Pid != 1 || fired.Signo != 10 {
		t.Errorf("fired %+v, want pid 1 signal 10", fired)
	}
	if _, fired, _ := r.Send(q, 0, []byte("y"), 0, false); fired != nil {
		t.Error("the registration fired twice")
	}
}

// TestSetLimit: ipc/mq_sysctl.c's bounds, and queues_max counting an
// unlinked queue while it is open.
func TestSetLimit(t *testing.T) {
	r := NewRegistry(Hooks{})
	for _, tc := range []struct {
		name string
		v    int
		err  error
	}{
		{"msg_max", 0, unix.EINVAL}, {"msg_max", 65536, nil}, {"msg_max", 65537, unix.EINVAL},
		{"msgsize_max", 127, unix.EINVAL}, {"msgsize_max", 16 << 20, nil}, {"msgsize_max", 16<<20 + 1, unix.EINVAL},
		{"msg_default", 0, unix.EINVAL}, {"msgsize_default", 128, nil},
		{"queues_max", -1, nil}, {"queues_max", 1 << 31, unix.EINVAL}, {"nope", 1, unix.EACCES},
	} {
		if err := r.SetLimit(tc.name, tc.v); err != tc.err {
			t.Errorf("SetLimit(%s, %d) = %v, want %v", tc.name, tc.v, err, tc.err)
		}
	}
	if l := r.Limits(); l.MsgMax != 65536 || l.QueuesMax != -1 || l.MsgSizeDefault != 128 {
		t.Errorf("limits %+v", l)
	}
}
