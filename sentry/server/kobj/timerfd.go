package kobj

import (
	"gvisor.dev/gvisor/pkg/abi/linux"
	"gvisor.dev/gvisor/pkg/sentry/fsimpl/timerfd"
	ktime "gvisor.dev/gvisor/pkg/sentry/ktime"
	"gvisor.dev/gvisor/pkg/sentry/vfs"
	"gvisor.dev/gvisor/pkg/usermem"
	"gvisor.dev/gvisor/pkg/waiter"
)

// Timerfd is a timerfd: gVisor's fsimpl/timerfd file description on a
// clock of the server's timer core (sentry/server/ktimer).
type Timerfd struct {
	fd    *vfs.FileDescription
	tfd   *timerfd.TimerFileDescription
	Watch *Watch
}

// NewTimerfd makes a disarmed timerfd on clock. It is non-blocking
// inside: blocking is the server's.
func NewTimerfd(clock ktime.Clock) (*Timerfd, error) {
	v, err := VFS()
	if err != nil {
		return nil, err
	}
	fd, err := timerfd.New(Ctx(), v, clock, linux.O_RDWR|linux.O_NONBLOCK)
	if err != nil {
		return nil, Errno(err)
	}
	return &Timerfd{fd: fd, tfd: fd.Impl().(*timerfd.TimerFileDescription), Watch: NewWatch(fd)}, nil
}

// Read reads the expiration count into dst (EAGAIN if none).
func (t *Timerfd) Read(dst usermem.IOSequence) (int64, error) {
	n, err := t.fd.Read(Ctx(), dst, vfs.ReadOptions{})
	return n, Errno(err)
}

// Clock returns the timer's clock.
func (t *Timerfd) Clock() ktime.Clock { return t.tfd.Clock() }

// Get returns the clock's time and the timer's setting.
func (t *Timerfd) Get() (ktime.Time, ktime.Setting) { return t.tfd.GetTime() }

// Set arms (or disarms) the timer and returns the previous setting.
func (t *Timerfd) Set(s ktime.Setting) (ktime.Time, ktime.Setting) { return t.tfd.SetTime(s) }

// Readiness returns the events ready now.
func (t *Timerfd) Readiness() uint32 { return uint32(t.fd.Readiness(waiter.AllEvents)) }

// Release frees the timer.
func (t *Timerfd) Release() {
	t.Watch.Stop()
	t.fd.DecRef(Ctx())
}
