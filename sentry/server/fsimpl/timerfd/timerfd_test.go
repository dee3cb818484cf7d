package timerfd

import (
	"encoding/binary"
	"testing"
	"time"

	"golang.org/x/sys/unix"
	ktime "gvisor.dev/gvisor/pkg/sentry/ktime"

	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/fdesc/fdesctest"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/ktimer"
)

func TestTimerfd(t *testing.T) {
	clocks := ktimer.NewClocks(0, 0, 0)
	for _, tc := range []struct {
		name    string
		flags   uint32
		arm     bool
		wantErr error
	}{
		{name: "disarmed nonblocking", flags: unix.O_NONBLOCK, wantErr: unix.EAGAIN},
		{name: "expires", arm: true},
		{name: "expires nonblocking", flags: unix.O_NONBLOCK, arm: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, err := New(clocks.ByID(unix.CLOCK_MONOTONIC), unix.CLOCK_MONOTONIC, tc.flags)
			if err != nil {
				t.Fatal(err)
			}
			defer f.DecRef()
			tf := f.Impl.(*File)
			if tf.ClockID() != unix.CLOCK_MONOTONIC {
				t.Errorf("ClockID() = %d", tf.ClockID())
			}
			if tc.arm {
				tf.Set(ktime.Setting{Enabled: true, Next: tf.Clock().Now().Add(5 * time.Millisecond)})
				if _, s := tf.Get(); !s.Enabled {
					t.Errorf("Get() after Set: %+v", s)
				}
				if tc.flags&unix.O_NONBLOCK != 0 {
					time.Sleep(50 * time.Millisecond)
				}
			}
			b, err := tf.Read(&fdesctest.Call{}, f, 8, 0)
			if err != tc.wantErr {
				t.Fatalf("Read = %v, %v; want %v", b, err, tc.wantErr)
			}
			if err == nil && binary.NativeEndian.Uint64(b) != 1 {
				t.Errorf("expirations = %d, want 1", binary.NativeEndian.Uint64(b))
			}
			if _, err := tf.Read(&fdesctest.Call{}, f, 4, 0); err != unix.EINVAL {
				t.Errorf("4-byte read = %v, want EINVAL", err)
			}
			if _, err := tf.Write(&fdesctest.Call{}, f, make([]byte, 8), 0); err != unix.EINVAL {
				t.Errorf("Write = %v, want EINVAL", err)
			}
		})
	}
}
