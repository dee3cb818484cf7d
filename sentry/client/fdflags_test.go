package client

import (
	"testing"

	pb "github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
)

// TestCloexecCopy: the client's copy of an fd table keeps each fd's
// close-on-exec flag as the records and the calls it posts set it, and
// undoes what a call it could not post set.
func TestCloexecCopy(t *testing.T) {
	const pid, table = 1, 7
	type step func(t *testing.T, c *procIDCache)
	record := func(fd int32, cloexec, deleted bool) step {
		return func(t *testing.T, c *procIDCache) { c.observeFD(table, fd, deleted, 100+uint64(fd), cloexec) }
	}
	dup := func(oldfd, newfd int32, cloexec, posted bool) step {
		return func(t *testing.T, c *procIDCache) {
			_, s, ok := c.reserveDup(pid, oldfd, newfd, 0, 1024, cloexec)
			if !ok {
				t.Fatalf("dup of %d refused", oldfd)
			}
			var r *pb.Reply
			if posted {
				r = &pb.Reply{Ret: int64(s.fd)}
			}
			c.dupDone(s, r)
		}
	}
	setfd := func(fd int32, v, posted bool) step {
		return func(t *testing.T, c *procIDCache) {
			s, ok := c.reserveCloexec(pid, fd, v)
			if !ok {
				t.Fatalf("F_SETFD of %d refused", fd)
			}
			var r *pb.Reply
			if posted {
				r = &pb.Reply{}
			}
			c.cloexecDone(s, r)
		}
	}
	closeFD := func(fd int32) step {
		return func(t *testing.T, c *procIDCache) {
			if !c.takeFD(pid, fd) {
				t.Fatalf("close of %d refused", fd)
			}
		}
	}
	tests := []struct {
		name  string
		steps []step
		fd    int32
		// known: the fd is open in the copy; want: its flag.
		known, want bool
	}{
		{name: "not open", fd: 3},
		{name: "record without the flag", steps: []step{record(3, false, false)}, fd: 3, known: true},
		{name: "record with the flag", steps: []step{record(3, true, false)}, fd: 3, known: true, want: true},
		{name: "deleted record", steps: []step{record(3, true, false), record(3, false, true)}, fd: 3},
		{name: "dup clears the flag", steps: []step{record(3, true, false), record(4, true, false), dup(3, 4, false, true)}, fd: 4, known: true},
		{name: "F_DUPFD_CLOEXEC sets it", steps: []step{record(3, false, false), dup(3, -1, true, true)}, fd: 0, known: true, want: true},
		{name: "a dup not posted is undone", steps: []step{record(3, false, false), record(4, true, false), dup(3, 4, false, false)}, fd: 4, known: true, want: true},
		{name: "posted F_SETFD", steps: []step{record(3, false, false), setfd(3, true, true)}, fd: 3, known: true, want: true},
		{name: "F_SETFD not posted is undone", steps: []step{record(3, true, false), setfd(3, false, false)}, fd: 3, known: true, want: true},
		{name: "an older record while F_SETFD is posted", steps: []step{record(3, false, false), func(t *testing.T, c *procIDCache) {
			if _, ok := c.reserveCloexec(pid, 3, true); !ok {
				t.Fatal("F_SETFD refused")
			}
		}, record(3, false, false)}, fd: 3, known: true, want: true},
		{name: "a posted close forgets it", steps: []step{record(3, true, false), closeFD(3)}, fd: 3},
		{name: "F_SETFD of a shared table is not posted", steps: []step{record(3, false, false), func(t *testing.T, c *procIDCache) {
			c.byPID[pid+1] = procIDs{fdTable: table}
			if _, ok := c.reserveCloexec(pid, 3, true); ok {
				t.Error("F_SETFD of a shared table reserved")
			}
		}}, fd: 3, known: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := &procIDCache{byPID: map[int32]procIDs{pid: {fdTable: table}}}
			for _, s := range tc.steps {
				s(t, c)
			}
			got, known := c.cloexecOf(pid, tc.fd)
			if known != tc.known || got != tc.want {
				t.Errorf("cloexecOf(%d) = %v, %v; want %v, %v", tc.fd, got, known, tc.want, tc.known)
			}
		})
	}
}
