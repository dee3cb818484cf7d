package server

import (
	"testing"

	"golang.org/x/sys/unix"

	"github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
)

// TestResentCloseOfChangedFD: a thread's close ran on a server that died
// before its reply, but the fd's change reached the client in another
// message (a slot record goes with the next message, whichever thread's
// reply that is), and another thread's open may have taken the fd since.
// Re-sent with the description it was sent for (Syscall.close_file), the
// close succeeds and closes nothing; without it, it fails with EBADF or
// closes the open's description (chaos thread-files: a writer's close,
// F_SETFL or read-back failed with EBADF after a recovery). A close the
// dead server never ran closes the fd as usual.
func TestResentCloseOfChangedFD(t *testing.T) {
	for _, tc := range []struct {
		name string
		// ran: the dead server ran the close, and its record reached
		// the client; reopened: an open took the fd after it, its
		// reply folded.
		ran, reopened bool
		// noCloseFile: the close is sent as before close_file.
		noCloseFile bool
		// want is the re-sent close's errno; open, whether the fd is
		// open after it.
		want unix.Errno
		open bool
	}{
		{name: "ran", ran: true, want: 0, open: false},
		{name: "ran/reopened", ran: true, reopened: true, want: 0, open: true},
		{name: "not-run", want: 0, open: false},
		{name: "ran/without-close_file", ran: true, noCloseFile: true, want: unix.EBADF, open: false},
		{name: "ran/reopened/without-close_file", ran: true, reopened: true, noCloseFile: true, want: 0, open: false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newReplayer(t)
			r.start()
			fd := r.open("/tmp/closed", unix.O_CREAT|unix.O_WRONLY)
			file := r.loggedFD(1, fd).GetFile()
			if file == 0 {
				t.Fatalf("no record of fd %d", fd)
			}
			closeCall := r.syscallCall(1, unix.SYS_CLOSE, fd)
			if !tc.noCloseFile {
				closeCall.GetSyscall().CloseFile = file
			}
			if tc.ran {
				// Its reply is lost; its record is not.
				rep := r.call(closeCall, true)
				if rep.Errno != 0 {
					t.Fatalf("close: errno %v", unix.Errno(rep.Errno))
				}
				r.fold(rep.State)
				if tc.reopened {
					if got := r.open("/tmp/reopened", unix.O_CREAT|unix.O_RDWR); got != fd {
						t.Fatalf("the open took fd %d, want %d (the closed one)", got, fd)
					}
				}
			} else {
				r.unsentSeq(closeCall)
			}
			r.recover(nil)
			rep := r.send([]*sentrypb.Call{closeCall})[0]
			if got := unix.Errno(rep.Errno); got != tc.want {
				t.Errorf("re-sent close: errno %v, want %v", got, tc.want)
			}
			if got := r.view(1, []uint64{fd}) != "[]"; got != tc.open {
				t.Errorf("fd %d open after the re-sent close: %v, want %v", fd, got, tc.open)
			}
		})
	}
}
