package syscalls

import (
	"golang.org/x/sys/unix"

	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/fdesc"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/fsimpl/timerfd"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/kernel"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/ktimer"
)

const (
	tfdTimerAbstime      = 1
	tfdTimerCancelOnSet  = 2
	timerfdSettableFlags = tfdTimerAbstime | tfdTimerCancelOnSet
)

// TimerfdCreate implements timerfd_create.
func TimerfdCreate(c *kernel.Task) (int64, error) {
	clockID, flags := int32(c.Args[0]), uint32(c.Args[1])
	if flags&^(unix.TFD_NONBLOCK|unix.TFD_CLOEXEC) != 0 {
		return 0, unix.EINVAL
	}
	switch clockID {
	case unix.CLOCK_REALTIME, unix.CLOCK_MONOTONIC, unix.CLOCK_BOOTTIME, unix.CLOCK_REALTIME_ALARM, unix.CLOCK_BOOTTIME_ALARM:
	default:
		return 0, unix.EINVAL
	}
	tab, err := c.FDTable()
	if err != nil {
		return 0, err
	}
	f, err := timerfd.OnClock(c.Kernel.Clocks, clockID, flags)
	if err != nil {
		return 0, err
	}
	fd, err := tab.Install(f, 0, flags&unix.TFD_CLOEXEC != 0, c.CallSeq)
	return int64(fd), err
}

// timerfdAt returns the timerfd at fd (EINVAL if fd is another file).
func timerfdAt(c *kernel.Task, fd int32) (*fdesc.File, *timerfd.File, error) {
	return FileAs[*timerfd.File](c, fd, unix.EINVAL)
}

// TimerfdSettime implements timerfd_settime.
func TimerfdSettime(c *kernel.Task) (int64, error) {
	flags, newAddr, oldAddr := int32(c.Args[1]), c.Args[2], c.Args[3]
	if flags&^timerfdSettableFlags != 0 {
		return 0, unix.EINVAL
	}
	f, t, err := timerfdAt(c, ArgInt(c, 0))
	if err != nil {
		return 0, err
	}
	defer f.DecRef()
	interval, value, err := copyInItimerspec(c, newAddr)
	if err != nil {
		return 0, err
	}
	now, old := t.Set(ktimer.SettingOf(t.Clock(), interval, value, flags&tfdTimerAbstime != 0))
	f.Changed()
	if oldAddr != 0 {
		oi, ov := ktimer.SpecOf(now, old)
		return 0, c.Mem.CopyOut(oldAddr, ktimer.ItimerBytes(oi, ov, false))
	}
	return 0, nil
}

// TimerfdGettime implements timerfd_gettime.
func TimerfdGettime(c *kernel.Task) (int64, error) {
	f, t, err := timerfdAt(c, ArgInt(c, 0))
	if err != nil {
		return 0, err
	}
	defer f.DecRef()
	interval, value := ktimer.SpecOf(t.Get())
	return 0, c.Mem.CopyOut(c.Args[1], ktimer.ItimerBytes(interval, value, false))
}
