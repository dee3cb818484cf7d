package ktimer

import (
	"encoding/binary"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func timeval(sec1, frac1, sec2, frac2 int64) []byte {
	b := make([]byte, 32)
	for i, v := range []int64{sec1, frac1, sec2, frac2} {
		binary.LittleEndian.PutUint64(b[8*i:], uint64(v))
	}
	return b
}

func TestParseItimer(t *testing.T) {
	for _, tc := range []struct {
		name            string
		b               []byte
		spec            bool
		interval, value time.Duration
		err             error
	}{
		{"itimerval", timeval(1, 500000, 0, 250), false, 1500 * time.Millisecond, 250 * time.Microsecond, nil},
		{"itimerspec", timeval(0, 5, 2, 0), true, 5, 2 * time.Second, nil},
		{"negative seconds", timeval(-1, 0, 0, 0), false, 0, 0, unix.EINVAL},
		{"usec out of range", timeval(0, 0, 0, 1000000), false, 0, 0, unix.EINVAL},
		{"nsec out of range", timeval(0, 1e9, 0, 0), true, 0, 0, unix.EINVAL},
	} {
		parse := ParseItimerval
		if tc.spec {
			parse = ParseItimerspec
		}
		interval, value, err := parse(tc.b)
		if err != tc.err || (err == nil && (interval != tc.interval || value != tc.value)) {
			t.Errorf("%s: %v %v %v, want %v %v %v", tc.name, interval, value, err, tc.interval, tc.value, tc.err)
		}
	}
}

// TestItimerBytes: an itimerval rounds a running timer's time left up to
// the next microsecond (never 0 while time is left); an itimerspec keeps
// nanoseconds.
func TestItimerBytes(t *testing.T) {
	for _, tc := range []struct {
		name            string
		interval, value time.Duration
		usec            bool
		want            []byte
	}{
		{"usec rounds up", 0, 1, true, timeval(0, 0, 0, 1)},
		{"usec carries into seconds", 0, 2*time.Second - 1, true, timeval(0, 0, 2, 0)},
		{"nsec kept", time.Second + 3, 7, false, timeval(1, 3, 0, 7)},
		{"negative is zero", 0, -5, false, timeval(0, 0, 0, 0)},
	} {
		if got := ItimerBytes(tc.interval, tc.value, tc.usec); string(got) != string(tc.want) {
			t.Errorf("%s: %x, want %x", tc.name, got, tc.want)
		}
	}
}

func TestClocksByID(t *testing.T) {
	c := NewClocks(0, 0, 0)
	for _, tc := range []struct {
		id   int32
		want *Clock
	}{
		{unix.CLOCK_REALTIME, c.Realtime},
		{unix.CLOCK_REALTIME_ALARM, c.Realtime},
		{unix.CLOCK_MONOTONIC, c.Monotonic},
		{unix.CLOCK_BOOTTIME, c.Boottime},
		{unix.CLOCK_PROCESS_CPUTIME_ID, nil},
	} {
		if got := c.ByID(tc.id); got != tc.want {
			t.Errorf("ByID(%d) = %p, want %p", tc.id, got, tc.want)
		}
	}
}
