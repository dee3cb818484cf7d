package timerfd

import (
	"golang.org/x/sys/unix"
	ktime "gvisor.dev/gvisor/pkg/sentry/ktime"
	"gvisor.dev/gvisor/pkg/usermem"

	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/fdesc"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/fsimpl/anon"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/kobj"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/ktimer"
)

// File is a timerfd.
type File struct {
	anon.Base
	t       *kobj.Timerfd
	clockID int32
}

// New returns a description of a new, disarmed timerfd on clock, whose
// id is clockID, with flags' O_NONBLOCK.
func New(clock ktime.Clock, clockID int32, flags uint32) (*fdesc.File, error) {
	tm, err := kobj.NewTimerfd(clock)
	if err != nil {
		return nil, err
	}
	return fdesc.NewFile(&File{Base: anon.NewBase(0600), t: tm, clockID: clockID}, nil, nil, unix.O_RDWR|flags&unix.O_NONBLOCK), nil
}

// OnClock returns a new timerfd on the application's clock clockID of
// clocks (EINVAL: a clock no timer may use).
func OnClock(clocks ktimer.Clocks, clockID int32, flags uint32) (*fdesc.File, error) {
	clk := clocks.ByID(clockID)
	if clk == nil {
		return nil, unix.EINVAL
	}
	return New(clk, clockID, flags)
}

// ClockID returns the id of the timer's clock.
func (t *File) ClockID() int32 { return t.clockID }

// Clock returns the timer's clock.
func (t *File) Clock() ktime.Clock { return t.t.Clock() }

// Get returns the clock's time and the timer's setting.
func (t *File) Get() (ktime.Time, ktime.Setting) { return t.t.Get() }

// Set arms (or disarms) the timer and returns the clock's time and the
// previous setting.
func (t *File) Set(s ktime.Setting) (ktime.Time, ktime.Setting) { return t.t.Set(s) }

// Read serves callers that have bytes rather than application buffers.
func (t *File) Read(c fdesc.Call, f *fdesc.File, n int, _ int64) ([]byte, error) {
	b := make([]byte, n)
	m, err := t.ReadSeq(c, f, usermem.BytesIOSequence(b))
	return b[:m], err
}

// ReadSeq takes the expiration count into dst, blocking until the timer
// expired at least once.
func (t *File) ReadSeq(c fdesc.Call, f *fdesc.File, dst usermem.IOSequence) (int64, error) {
	if dst.NumBytes() < 8 {
		return 0, unix.EINVAL
	}
	n, err := anon.BlockOn(c, f, t.t.Watch, false, func() (int64, error) { return t.t.Read(dst) })
	if err == nil {
		f.Changed() // the setting's next expiration moved on
	}
	return n, err
}

// WriteSeq is EINVAL: a timerfd is not written.
func (t *File) WriteSeq(fdesc.Call, *fdesc.File, usermem.IOSequence) (int64, error) {
	return 0, unix.EINVAL
}

// Readiness returns the events ready now and a channel closed when they
// may have changed.
func (t *File) Readiness(*fdesc.File) (uint32, <-chan struct{}) {
	ch := t.t.Watch.Changed()
	return t.t.Readiness(), ch
}

// Release stops and frees the timer.
func (t *File) Release() { t.t.Release() }
