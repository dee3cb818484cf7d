package socket

import (
	"encoding/binary"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func tv(sec, usec int64) []byte {
	b := binary.LittleEndian.AppendUint64(nil, uint64(sec))
	return binary.LittleEndian.AppendUint64(b, uint64(usec))
}

// TestTimeouts: SO_RCVTIMEO and SO_SNDTIMEO are kept apart, checked as
// Linux checks them, and bound a blocking call from its start.
func TestTimeouts(t *testing.T) {
	var to Timeouts
	if !to.Deadline(false).IsZero() {
		t.Error("a socket without SO_RCVTIMEO has a deadline")
	}
	for _, tc := range []struct {
		name string
		opt  int
		v    []byte
		err  error
		get  []byte
	}{
		{"receive", unix.SO_RCVTIMEO, tv(1, 500000), nil, tv(1, 500000)},
		{"send", unix.SO_SNDTIMEO, tv(0, 20), nil, tv(0, 20)},
		{"usec out of range", unix.SO_SNDTIMEO, tv(0, 1000000), unix.EDOM, tv(0, 20)},
		{"negative seconds are none", unix.SO_SNDTIMEO, tv(-3, 0), nil, tv(0, 0)},
		{"short", unix.SO_RCVTIMEO, make([]byte, 8), unix.EINVAL, tv(1, 500000)},
	} {
		if err := to.Set(tc.opt, tc.v); err != tc.err {
			t.Errorf("%s: Set: %v, want %v", tc.name, err, tc.err)
		}
		if got := to.Get(tc.opt); string(got) != string(tc.get) {
			t.Errorf("%s: Get: %x, want %x", tc.name, got, tc.get)
		}
	}
	if d := time.Until(to.Deadline(false)); d <= time.Second || d > 1500*time.Millisecond {
		t.Errorf("receive deadline in %v, want about 1.5s", d)
	}
	if !to.Deadline(true).IsZero() {
		t.Error("a zero SO_SNDTIMEO gives a deadline")
	}
}
