package server

import (
	"testing"

	"golang.org/x/sys/unix"

	"github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
)

// TestResentCallFindsItsFD: a call that makes an fd, run by the dead
// server, its reply lost but its fd's record folded (another message
// carried it), re-sent after the recovery answers the fd its first run
// made (FdState.seq) and makes no second one: as a run without the
// failure, the application is told that fd, and no fd stays open that
// nothing will close. A call the dead server never ran makes its fd as
// usual.
func TestResentCallFindsItsFD(t *testing.T) {
	for _, tc := range []struct {
		name  string
		sysno uintptr
		// args of the call; base stands for an fd open before it.
		args func(r *replayer, base uint64) []uint64
		ran  bool
	}{
		{name: "openat", sysno: unix.SYS_OPENAT, ran: true, args: func(r *replayer, _ uint64) []uint64 {
			return []uint64{uint64(atFDCWD64), r.mem.str("/tmp/made"), unix.O_CREAT | unix.O_RDWR, 0644}
		}},
		{name: "openat/not-run", sysno: unix.SYS_OPENAT, args: func(r *replayer, _ uint64) []uint64 {
			return []uint64{uint64(atFDCWD64), r.mem.str("/tmp/made"), unix.O_CREAT | unix.O_RDWR, 0644}
		}},
		{name: "dup", sysno: unix.SYS_DUP, ran: true, args: func(_ *replayer, base uint64) []uint64 { return []uint64{base} }},
		{name: "fcntl-dupfd", sysno: unix.SYS_FCNTL, ran: true, args: func(_ *replayer, base uint64) []uint64 {
			return []uint64{base, unix.F_DUPFD_CLOEXEC, 0}
		}},
		{name: "eventfd2", sysno: unix.SYS_EVENTFD2, ran: true, args: func(*replayer, uint64) []uint64 { return []uint64{0, 0} }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newReplayer(t)
			r.start()
			base := r.open("/tmp/base", unix.O_CREAT|unix.O_RDWR)
			call := r.syscallCall(1, tc.sysno, tc.args(r, base)...)
			want := int64(base + 1) // the lowest free fd
			if tc.ran {
				// Its reply is lost; its fd's record is not.
				rep := r.call(call, true)
				if rep.Errno != 0 || rep.Ret != want {
					t.Fatalf("first run: fd %d errno %v, want fd %d", rep.Ret, unix.Errno(rep.Errno), want)
				}
				r.fold(rep.State)
				if r.loggedFD(1, uint64(want)) == nil {
					t.Fatalf("no record of fd %d in the log", want)
				}
			} else {
				r.unsentSeq(call)
			}
			r.recover(nil)
			rep := r.send([]*sentrypb.Call{call})[0]
			if rep.Errno != 0 || rep.Ret != want {
				t.Errorf("re-sent: fd %d errno %v, want fd %d", rep.Ret, unix.Errno(rep.Errno), want)
			}
			if got := r.view(1, []uint64{uint64(want) + 1}); got != "[]" {
				t.Errorf("a second fd is open after the re-sent call: %s", got)
			}
		})
	}
}
