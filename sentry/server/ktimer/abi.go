package ktimer

import (
	"encoding/binary"
	"math"
	"time"

	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/sentry/ktime"
)

// The sizes of the structs ParseItimerval, ParseItimerspec and
// ItimerBytes read and write.
const (
	SizeofItimerval  = 32
	SizeofItimerspec = 32
)

// Struct conversions. A timeval or timespec with a negative part or a
// fraction out of range is EINVAL, as Linux checks.

// durationOf is sec seconds and frac units (below fracMax) as a
// duration, at most the largest one.
func durationOf(sec, frac int64, unit time.Duration, fracMax int64) (time.Duration, error) {
	if sec < 0 || frac < 0 || frac >= fracMax {
		return 0, unix.EINVAL
	}
	if sec > math.MaxInt64/int64(time.Second)-1 {
		return time.Duration(math.MaxInt64), nil
	}
	return time.Duration(sec)*time.Second + time.Duration(frac)*unit, nil
}

// ParseItimerval reads a struct itimerval (interval, then value).
func ParseItimerval(b []byte) (interval, value time.Duration, err error) {
	if interval, err = durationOf(int64(binary.LittleEndian.Uint64(b[0:])), int64(binary.LittleEndian.Uint64(b[8:])), time.Microsecond, 1e6); err != nil {
		return
	}
	value, err = durationOf(int64(binary.LittleEndian.Uint64(b[16:])), int64(binary.LittleEndian.Uint64(b[24:])), time.Microsecond, 1e6)
	return
}

// ParseItimerspec reads a struct itimerspec (interval, then value).
func ParseItimerspec(b []byte) (interval, value time.Duration, err error) {
	if interval, err = durationOf(int64(binary.LittleEndian.Uint64(b[0:])), int64(binary.LittleEndian.Uint64(b[8:])), 1, 1e9); err != nil {
		return
	}
	value, err = durationOf(int64(binary.LittleEndian.Uint64(b[16:])), int64(binary.LittleEndian.Uint64(b[24:])), 1, 1e9)
	return
}

// ItimerBytes encodes (interval, value) as a struct itimerval (usec) or
// itimerspec.
func ItimerBytes(interval, value time.Duration, usec bool) []byte {
	b := make([]byte, SizeofItimerspec)
	put := func(off int, d time.Duration) {
		d = max(d, 0)
		binary.LittleEndian.PutUint64(b[off:], uint64(d/time.Second))
		frac := d % time.Second
		if usec {
			// A running timer never reads 0 usec while time is left.
			us := (frac + time.Microsecond - 1) / time.Microsecond
			if us == 1e6 {
				binary.LittleEndian.PutUint64(b[off:], uint64(d/time.Second)+1)
				us = 0
			}
			binary.LittleEndian.PutUint64(b[off+8:], uint64(us))
		} else {
			binary.LittleEndian.PutUint64(b[off+8:], uint64(frac))
		}
	}
	put(0, interval)
	put(16, value)
	return b
}

// SettingOf is the setting an itimerspec (interval, value) asks of a
// timer on clock: disarmed when value is 0; else first due at value, a
// time on clock when abs (TIMER_ABSTIME, TFD_TIMER_ABSTIME), or that long
// from now. timer_settime and timerfd_settime share it.
func SettingOf(clock ktime.Clock, interval, value time.Duration, abs bool) ktime.Setting {
	switch {
	case value == 0:
		return ktime.Setting{Period: interval}
	case abs:
		return ktime.Setting{Enabled: true, Next: ktime.FromNanoseconds(int64(value)), Period: interval}
	default:
		return ktime.Setting{Enabled: true, Next: clock.Now().Add(value), Period: interval}
	}
}

// SpecOf is the (interval, time left) of a setting at now.
func SpecOf(now ktime.Time, s ktime.Setting) (interval, value time.Duration) {
	value, interval = ktime.SpecFromSetting(now, s)
	if s.Enabled && value <= 0 {
		value = 1 // due: still armed
	}
	return interval, value
}
