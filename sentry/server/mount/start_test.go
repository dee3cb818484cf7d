package mount

import (
	"testing"

	"golang.org/x/sys/unix"
)

func TestStartPropagation(t *testing.T) {
	for _, tc := range []struct {
		flags   uint64
		kind    uint64
		rec, ok bool
	}{
		{flags: 0, ok: true},
		{flags: unix.MS_SHARED, kind: unix.MS_SHARED, ok: true},
		{flags: unix.MS_SLAVE | unix.MS_REC, kind: unix.MS_SLAVE, rec: true, ok: true},
		{flags: unix.MS_UNBINDABLE, kind: unix.MS_UNBINDABLE, ok: true},
		{flags: unix.MS_REC},
		{flags: unix.MS_SHARED | unix.MS_PRIVATE},
		{flags: unix.MS_SHARED | unix.MS_BIND},
		{flags: 1 << 62},
	} {
		kind, rec, err := StartPropagation(tc.flags)
		if (err == nil) != tc.ok || kind != tc.kind || rec != tc.rec {
			t.Errorf("StartPropagation(%#x) = %#x, %v, %v", tc.flags, kind, rec, err)
		}
	}
}
