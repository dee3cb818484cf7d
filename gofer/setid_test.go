package gofer

import (
	"testing"

	"golang.org/x/sys/unix"

	"github.com/runsc-decoupled/runsc-decoupled/proto/goferpb"
)

// TestSetIDStripped: by default an application cannot leave a set-id file
// on the host, by create, chmod or mkdir; WithAllowSetuid keeps the bits.
func TestSetIDStripped(t *testing.T) {
	for _, allow := range []bool{false, true} {
		e := newEnv(t, WithAllowSetuid(allow))
		f := e.create(e.rootH, "f", unix.O_RDWR, 0o6755)
		g := e.create(e.rootH, "g", unix.O_RDWR, 0o755)
		d := e.mkdir(e.rootH, "d")
		for _, tc := range []struct {
			name      string
			h         uint64
			mode      uint32 // 0: no chmod, just stat
			want      uint32
			wantAllow uint32
		}{
			{"create 6755", f, 0, 0o755, 0o6755},
			{"chmod 6755", g, 0o6755, 0o755, 0o6755},
			{"chmod 2755", g, 0o2755, 0o755, 0o2755},
			{"chmod dir 6755", d, 0o6755, 0o2755, 0o6755},
		} {
			if tc.mode != 0 {
				must(t, tc.name, must2(e.c.SetStat(e.ctx, &goferpb.SetStatRequest{Handle: tc.h, Mask: unix.STATX_MODE, Mode: tc.mode})))
			}
			h, err := e.srv.lookup(tc.h)
			if err != nil {
				t.Fatal(err)
			}
			var st unix.Stat_t
			err = unix.Fstat(h.fd, &st)
			h.decRef()
			if err != nil {
				t.Fatal(err)
			}
			want := tc.want
			if allow {
				want = tc.wantAllow
			}
			if got := st.Mode & 0o7777; got != want {
				t.Errorf("allow=%v %s: host mode %#o, want %#o", allow, tc.name, got, want)
			}
		}
	}
}
