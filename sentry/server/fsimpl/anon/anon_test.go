package anon

import (
	"errors"
	"testing"
	"time"

	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/waiter"

	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/fdesc"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/fdesc/fdesctest"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/kobj"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/syserr"
)

func TestBlockOn(t *testing.T) {
	for _, tc := range []struct {
		name string
		// flags are the description's; nonblock BlockOn's argument.
		flags    uint32
		nonblock bool
		// ready is how many tries would block before one succeeds
		// (-1: none does); fail is the error of a try that does not.
		ready     int
		fail      error
		interrupt bool
		deadline  time.Duration
		wantN     int64
		wantErr   error
		wantTries int
	}{
		{name: "ready", ready: 0, wantN: 7, wantTries: 1},
		{name: "error", ready: 0, fail: unix.EBADF, wantN: 7, wantErr: unix.EBADF, wantTries: 1},
		{name: "nonblock argument", ready: -1, nonblock: true, wantErr: unix.EAGAIN, wantTries: 1},
		{name: "O_NONBLOCK", ready: -1, flags: unix.O_NONBLOCK, wantErr: unix.EAGAIN, wantTries: 1},
		{name: "waits", ready: 2, wantN: 7, wantTries: 3},
		{name: "interrupted", ready: -1, interrupt: true, wantErr: syserr.RestartSys, wantTries: 1},
		{name: "deadline", ready: -1, deadline: 20 * time.Millisecond, wantErr: unix.EAGAIN},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var q waiter.Queue
			w := kobj.NewQueueWatch(&q)
			defer w.Stop()
			f := fdesc.NewFile(&struct{ Base }{NewBase(0600)}, nil, nil, unix.O_RDWR|tc.flags)
			c := &fdesctest.Call{Interrupt: make(chan struct{})}
			if tc.interrupt {
				close(c.Interrupt)
			}
			tries := 0
			try := func() (int64, error) {
				tries++
				if tc.ready < 0 || tries <= tc.ready {
					// Ready next time: the notification comes after the
					// try, as an object's would.
					if tc.ready >= 0 {
						go q.Notify(waiter.ReadableEvents)
					}
					return 0, unix.EAGAIN
				}
				return 7, tc.fail
			}
			var deadline time.Time
			if tc.deadline > 0 {
				deadline = time.Now().Add(tc.deadline)
			}
			n, err := BlockOnUntil(c, f, w, tc.nonblock, deadline, try)
			if n != tc.wantN || !errors.Is(err, tc.wantErr) && err != tc.wantErr {
				t.Errorf("BlockOnUntil = %d, %v; want %d, %v", n, err, tc.wantN, tc.wantErr)
			}
			if tc.wantTries > 0 && tries != tc.wantTries {
				t.Errorf("%d tries, want %d", tries, tc.wantTries)
			}
		})
	}
}

func TestBase(t *testing.T) {
	a, b := NewBase(unix.S_IFSOCK|0777), NewBase(0600)
	if a.Ino() == b.Ino() {
		t.Errorf("two anonymous inodes share number %d", a.Ino())
	}
	st, err := b.Stat(nil)
	if err != nil || st.Mode != 0600 || st.Ino != b.Ino() || st.Dev != Dev || st.Nlink != 1 {
		t.Errorf("Stat = %+v, %v", st, err)
	}
	if !a.Stream() {
		t.Error("an anonymous file is not a stream")
	}
	if _, err := a.Read(nil, nil, 1, 0); err != unix.EINVAL {
		t.Errorf("Read = %v, want EINVAL", err)
	}
}
