package server

import (
	"time"

	"golang.org/x/sys/unix"
	ktime "gvisor.dev/gvisor/pkg/sentry/ktime"
	"gvisor.dev/gvisor/pkg/usermem"

	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/fdesc"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/kobj"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/ktimer"
)

// timerFile is a timerfd: kobj.Timerfd (gVisor's fsimpl/timerfd) on one
// of the application's clocks (ktimer).
type timerFile struct {
	kobjBase
	t       *kobj.Timerfd
	clockID int32
}

const (
	tfdTimerAbstime      = 1
	tfdTimerCancelOnSet  = 2
	timerfdSettableFlags = tfdTimerAbstime | tfdTimerCancelOnSet
)

func (t *timerFile) read(c fdesc.Call, f *file, n int, _ int64) ([]byte, error) {
	b := make([]byte, n)
	m, err := t.readSeq(c, f, usermem.BytesIOSequence(b))
	return b[:m], err
}

func (t *timerFile) readSeq(c fdesc.Call, f *file, dst usermem.IOSequence) (int64, error) {
	if dst.NumBytes() < 8 {
		return 0, unix.EINVAL
	}
	n, err := blockOn(c, f, t.t.Watch, false, func() (int64, error) { return t.t.Read(dst) })
	if err == nil {
		f.changed() // the setting's next expiration moved on
	}
	return n, err
}

func (t *timerFile) writeSeq(fdesc.Call, *file, usermem.IOSequence) (int64, error) {
	return 0, unix.EINVAL
}

func (t *timerFile) readiness(*file) (uint32, <-chan struct{}) {
	ch := t.t.Watch.Changed()
	return t.t.Readiness(), ch
}

func (t *timerFile) release() { t.t.Release() }

func newTimerFile(k *clientState, clockID int32, flags uint32) (*file, error) {
	clk := k.clocks.ByID(clockID)
	if clk == nil {
		return nil, unix.EINVAL
	}
	tm, err := kobj.NewTimerfd(clk)
	if err != nil {
		return nil, err
	}
	return newFile(&timerFile{kobjBase: newKobjBase(0600), t: tm, clockID: clockID}, nil, unix.O_RDWR|flags&unix.O_NONBLOCK), nil
}

func sysTimerfdCreate(c *syscallCtx) (int64, error) {
	clockID, flags := int32(c.args[0]), uint32(c.args[1])
	if flags&^(unix.TFD_NONBLOCK|unix.TFD_CLOEXEC) != 0 {
		return 0, unix.EINVAL
	}
	switch clockID {
	case unix.CLOCK_REALTIME, unix.CLOCK_MONOTONIC, unix.CLOCK_BOOTTIME, unix.CLOCK_REALTIME_ALARM, unix.CLOCK_BOOTTIME_ALARM:
	default:
		return 0, unix.EINVAL
	}
	tab, err := c.fdTable()
	if err != nil {
		return 0, err
	}
	f, err := newTimerFile(c.k, clockID, flags)
	if err != nil {
		return 0, err
	}
	fd, err := tab.install(f, 0, flags&unix.TFD_CLOEXEC != 0)
	return int64(fd), err
}

// timerfdAt returns the timerfd at fd (EINVAL if fd is another file).
func (c *syscallCtx) timerfdAt(fd int32) (*file, *timerFile, error) {
	return fileAs[*timerFile](c, fd, unix.EINVAL)
}

func sysTimerfdSettime(c *syscallCtx) (int64, error) {
	flags, newAddr, oldAddr := int32(c.args[1]), c.args[2], c.args[3]
	if flags&^timerfdSettableFlags != 0 {
		return 0, unix.EINVAL
	}
	f, t, err := c.timerfdAt(c.argInt(0))
	if err != nil {
		return 0, err
	}
	defer f.DecRef()
	b, err := c.mem.CopyIn(newAddr, sizeofItimerspec)
	if err != nil {
		return 0, err
	}
	interval, value, err := ktimer.ParseItimerspec(b)
	if err != nil {
		return 0, err
	}
	var s ktime.Setting
	switch {
	case value == 0:
		s = ktime.Setting{Period: interval}
	case flags&tfdTimerAbstime != 0:
		s = ktime.Setting{Enabled: true, Next: ktime.FromNanoseconds(int64(value)), Period: interval}
	default:
		s = ktime.Setting{Enabled: true, Next: t.t.Clock().Now().Add(value), Period: interval}
	}
	now, old := t.t.Set(s)
	f.changed()
	if oldAddr != 0 {
		oi, ov := ktimer.SpecOf(now, old)
		return 0, c.mem.CopyOut(oldAddr, ktimer.ItimerBytes(oi, ov, false))
	}
	return 0, nil
}

func sysTimerfdGettime(c *syscallCtx) (int64, error) {
	f, t, err := c.timerfdAt(c.argInt(0))
	if err != nil {
		return 0, err
	}
	defer f.DecRef()
	interval, value := ktimer.SpecOf(t.t.Get())
	return 0, c.mem.CopyOut(c.args[1], ktimer.ItimerBytes(interval, value, false))
}

// timerfdSetting is the setting a restored timerfd gets.
func timerfdSetting(enabled bool, nextNS, periodNS int64) ktime.Setting {
	return ktime.Setting{Enabled: enabled, Next: ktime.FromNanoseconds(nextNS), Period: time.Duration(periodNS)}
}
