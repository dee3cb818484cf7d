package server

import (
	"time"

	"golang.org/x/sys/unix"
	ktime "gvisor.dev/gvisor/pkg/sentry/ktime"

	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/fsimpl/timerfd"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/ktimer"
)

const (
	tfdTimerAbstime      = 1
	tfdTimerCancelOnSet  = 2
	timerfdSettableFlags = tfdTimerAbstime | tfdTimerCancelOnSet
)

// newTimerFile returns a new timerfd on the application's clock clockID.
func newTimerFile(k *clientState, clockID int32, flags uint32) (*file, error) {
	clk := k.Clocks.ByID(clockID)
	if clk == nil {
		return nil, unix.EINVAL
	}
	return timerfd.New(clk, clockID, flags)
}

func sysTimerfdCreate(c *syscallCtx) (int64, error) {
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
	f, err := newTimerFile(c.Kernel, clockID, flags)
	if err != nil {
		return 0, err
	}
	fd, err := tab.Install(f, 0, flags&unix.TFD_CLOEXEC != 0)
	return int64(fd), err
}

// timerfdAt returns the timerfd at fd (EINVAL if fd is another file).
func timerfdAt(c *syscallCtx, fd int32) (*file, *timerfd.File, error) {
	return fileAs[*timerfd.File](c, fd, unix.EINVAL)
}

func sysTimerfdSettime(c *syscallCtx) (int64, error) {
	flags, newAddr, oldAddr := int32(c.Args[1]), c.Args[2], c.Args[3]
	if flags&^timerfdSettableFlags != 0 {
		return 0, unix.EINVAL
	}
	f, t, err := timerfdAt(c, argInt(c, 0))
	if err != nil {
		return 0, err
	}
	defer f.DecRef()
	b, err := c.Mem.CopyIn(newAddr, ktimer.SizeofItimerspec)
	if err != nil {
		return 0, err
	}
	interval, value, err := ktimer.ParseItimerspec(b)
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

func sysTimerfdGettime(c *syscallCtx) (int64, error) {
	f, t, err := timerfdAt(c, argInt(c, 0))
	if err != nil {
		return 0, err
	}
	defer f.DecRef()
	interval, value := ktimer.SpecOf(t.Get())
	return 0, c.Mem.CopyOut(c.Args[1], ktimer.ItimerBytes(interval, value, false))
}

// timerfdSetting is the setting a restored timerfd gets.
func timerfdSetting(enabled bool, nextNS, periodNS int64) ktime.Setting {
	return ktime.Setting{Enabled: enabled, Next: ktime.FromNanoseconds(nextNS), Period: time.Duration(periodNS)}
}
