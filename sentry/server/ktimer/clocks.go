package ktimer

import (
	"time"

	"golang.org/x/sys/unix"
)

// Clocks are the application's clocks: the server's host clocks shifted
// to the client's readings (realtime, monotonic, boottime; 0: no reading,
// no shift), refined by later readings (Observe). The pointers are
// immutable.
type Clocks struct {
	Realtime, Monotonic, Boottime *Clock
}

// NewClocks returns the application's clocks from the client's readings
// of them, in nanoseconds (0: unknown).
func NewClocks(realtime, monotonic, boottime int64) Clocks {
	off := func(client int64, id int32) time.Duration {
		if client == 0 {
			return 0
		}
		return time.Duration(client - HostNow(id))
	}
	return Clocks{
		Realtime:  NewClock(unix.CLOCK_REALTIME, off(realtime, unix.CLOCK_REALTIME)),
		Monotonic: NewClock(unix.CLOCK_MONOTONIC, off(monotonic, unix.CLOCK_MONOTONIC)),
		Boottime:  NewClock(unix.CLOCK_BOOTTIME, off(boottime, unix.CLOCK_BOOTTIME)),
	}
}

// Observe refines the clocks from readings of the client's taken before
// the message being handled was sent (Clock.Observe).
func (c Clocks) Observe(realtime, monotonic, boottime int64) {
	c.Realtime.Observe(realtime)
	c.Monotonic.Observe(monotonic)
	c.Boottime.Observe(boottime)
}

// ByID returns the clock a timer may use, or nil (CPU-time clocks and
// unknown ids are not supported).
func (c Clocks) ByID(id int32) *Clock {
	switch id {
	case unix.CLOCK_REALTIME, unix.CLOCK_REALTIME_ALARM:
		return c.Realtime
	case unix.CLOCK_MONOTONIC:
		return c.Monotonic
	case unix.CLOCK_BOOTTIME, unix.CLOCK_BOOTTIME_ALARM:
		return c.Boottime
	}
	return nil
}
