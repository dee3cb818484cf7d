package server

import (
	"testing"

	"golang.org/x/sys/unix"

	"github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/syscalls"
)

// TestWriteBehindErrorRecovery: a failed write behind's error, kept on
// its description and on its file (package wberr), is replay state. A
// server killed after the client learnt of the failure is replaced by
// one that reports it, once, to the next fsync (of the description or of
// a new one), or to a syncfs; an fsync whose reply died with the server
// is re-sent and reports it again, and one whose reply arrived leaves
// nothing to report.
func TestWriteBehindErrorRecovery(t *testing.T) {
	const huge = uint64(1<<63 - 1) // past any file's maximum size: EFBIG
	tests := []struct {
		name string
		// before runs on the first server after the failed write behind
		// on fd, and returns a call whose reply the crash lost (nil:
		// none); after runs on its successor.
		before func(r *replayer, fd uint64) *sentrypb.Call
		after  func(r *replayer, fd uint64, lost *sentrypb.Call)
	}{
		{"the description's next fsync reports it once", nil, func(r *replayer, fd uint64, _ *sentrypb.Call) {
			r.fails(unix.EFBIG, unix.SYS_FSYNC, fd)
			r.ok(1, unix.SYS_FSYNC, fd)
			fd2 := r.open("/tmp/wb", unix.O_WRONLY)
			r.ok(1, unix.SYS_FSYNC, fd2)
		}},
		{"after a posted close, a new description's fsync reports it once", func(r *replayer, fd uint64) *sentrypb.Call {
			c := r.syscallCall(1, unix.SYS_CLOSE, fd)
			c.GetSyscall().Posted = true
			if rep := r.call(c, false); rep.Errno != 0 {
				r.t.Fatalf("posted close: errno %v", unix.Errno(rep.Errno))
			}
			return nil
		}, func(r *replayer, _ uint64, _ *sentrypb.Call) {
			fd2 := r.open("/tmp/wb", unix.O_WRONLY)
			r.fails(unix.EFBIG, unix.SYS_FSYNC, fd2)
			r.ok(1, unix.SYS_FSYNC, fd2)
		}},
		{"after a close_range, a new description's fsync reports it once", func(r *replayer, fd uint64) *sentrypb.Call {
			r.ok(1, unix.SYS_CLOSE_RANGE, fd, fd, 0) // reports no error, as Linux's
			return nil
		}, func(r *replayer, _ uint64, _ *sentrypb.Call) {
			fd2 := r.open("/tmp/wb", unix.O_WRONLY)
			r.fails(unix.EFBIG, unix.SYS_FSYNC, fd2)
			r.ok(1, unix.SYS_FSYNC, fd2)
		}},
		{"a close_range keeps the description's error on the file another description's fsync took it from", func(r *replayer, fd uint64) *sentrypb.Call {
			fd2 := r.open("/tmp/wb", unix.O_WRONLY)
			r.fails(unix.EFBIG, unix.SYS_FSYNC, fd2)
			r.ok(1, unix.SYS_CLOSE_RANGE, fd, fd, 0) // as a posted close keeps it
			return nil
		}, func(r *replayer, _ uint64, _ *sentrypb.Call) {
			fd3 := r.open("/tmp/wb", unix.O_WRONLY)
			r.fails(unix.EFBIG, unix.SYS_FSYNC, fd3)
			r.ok(1, unix.SYS_FSYNC, fd3)
		}},
		{"a sync_file_range that waits after its write-out reports it once", nil, func(r *replayer, fd uint64, _ *sentrypb.Call) {
			r.fails(unix.EFBIG, unix.SYS_SYNC_FILE_RANGE, fd, 0, 0, unix.SYNC_FILE_RANGE_WRITE|unix.SYNC_FILE_RANGE_WAIT_AFTER)
			r.ok(1, unix.SYS_SYNC_FILE_RANGE, fd, 0, 0, unix.SYNC_FILE_RANGE_WRITE_AND_WAIT)
			r.ok(1, unix.SYS_FSYNC, fd)
			fd2 := r.open("/tmp/wb", unix.O_WRONLY)
			r.ok(1, unix.SYS_FSYNC, fd2)
		}},
		{"a sync_file_range that waits before reports it", nil, func(r *replayer, fd uint64, _ *sentrypb.Call) {
			r.fails(unix.EFBIG, unix.SYS_SYNC_FILE_RANGE, fd, 0, 4096, unix.SYNC_FILE_RANGE_WAIT_BEFORE)
			r.ok(1, unix.SYS_FSYNC, fd)
		}},
		{"a sync_file_range that does not wait reports nothing", nil, func(r *replayer, fd uint64, _ *sentrypb.Call) {
			r.ok(1, unix.SYS_SYNC_FILE_RANGE, fd, 0, 0, unix.SYNC_FILE_RANGE_WRITE)
			r.ok(1, unix.SYS_SYNC_FILE_RANGE, fd, 0, 0, 0)
			r.fails(unix.EFBIG, unix.SYS_FSYNC, fd)
		}},
		{"a sync_file_range that fails its checks reports nothing", nil, func(r *replayer, fd uint64, _ *sentrypb.Call) {
			r.fails(unix.EINVAL, unix.SYS_SYNC_FILE_RANGE, fd, 0, 0, 8|unix.SYNC_FILE_RANGE_WAIT_AFTER)
			r.fails(unix.EINVAL, unix.SYS_SYNC_FILE_RANGE, fd, ^uint64(0), 0, unix.SYNC_FILE_RANGE_WAIT_AFTER)
			r.fails(unix.EFBIG, unix.SYS_FSYNC, fd)
		}},
		{"a new description's sync_file_range reports the file's once, the description's fsync its own", nil, func(r *replayer, fd uint64, _ *sentrypb.Call) {
			fd2 := r.open("/tmp/wb", unix.O_WRONLY)
			r.fails(unix.EFBIG, unix.SYS_SYNC_FILE_RANGE, fd2, 0, 0, unix.SYNC_FILE_RANGE_WAIT_AFTER)
			r.ok(1, unix.SYS_SYNC_FILE_RANGE, fd2, 0, 0, unix.SYNC_FILE_RANGE_WAIT_AFTER)
			r.fails(unix.EFBIG, unix.SYS_FSYNC, fd)
			r.ok(1, unix.SYS_FSYNC, fd)
		}},
		{"a syncfs reports the file's once, the description's fsync its own", nil, func(r *replayer, fd uint64, _ *sentrypb.Call) {
			r.fails(unix.EFBIG, unix.SYS_SYNCFS, fd)
			r.ok(1, unix.SYS_SYNCFS, fd)
			r.fails(unix.EFBIG, unix.SYS_FSYNC, fd)
			r.ok(1, unix.SYS_FSYNC, fd)
		}},
		{"an fsync whose reply was lost is re-sent and reports it", func(r *replayer, fd uint64) *sentrypb.Call {
			c := r.syscallCall(1, unix.SYS_FSYNC, fd)
			if rep := r.call(c, true); unix.Errno(rep.Errno) != unix.EFBIG {
				r.t.Fatalf("fsync: errno %v, want EFBIG", unix.Errno(rep.Errno))
			}
			return c
		}, func(r *replayer, fd uint64, lost *sentrypb.Call) {
			if rep := r.call(lost, false); unix.Errno(rep.Errno) != unix.EFBIG {
				r.t.Errorf("re-sent fsync: errno %v, want EFBIG", unix.Errno(rep.Errno))
			}
			r.ok(1, unix.SYS_FSYNC, fd)
		}},
		{"an fsync whose reply arrived leaves nothing", func(r *replayer, fd uint64) *sentrypb.Call {
			r.fails(unix.EFBIG, unix.SYS_FSYNC, fd)
			return nil
		}, func(r *replayer, fd uint64, _ *sentrypb.Call) {
			r.ok(1, unix.SYS_FSYNC, fd)
			fd2 := r.open("/tmp/wb", unix.O_WRONLY)
			r.ok(1, unix.SYS_FSYNC, fd2)
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := newReplayer(t)
			r.start()
			fd := r.open("/tmp/wb", unix.O_CREAT|unix.O_WRONLY|unix.O_TRUNC)
			w := r.syscallCall(1, unix.SYS_PWRITE64, fd, r.mem.alloc([]byte("xx")), 2, huge)
			w.GetSyscall().Posted = true
			if rep := r.call(w, false); unix.Errno(rep.Errno) != unix.EFBIG {
				t.Fatalf("write behind at %d: errno %v, want EFBIG", huge, unix.Errno(rep.Errno))
			}
			var lost *sentrypb.Call
			if tc.before != nil {
				lost = tc.before(r, fd)
			}
			r.recover(nil)
			tc.after(r, fd, lost)
		})
	}
}

// fails makes thread 1's call of sysno and checks that it fails with e.
func (r *replayer) fails(e unix.Errno, sysno uintptr, args ...uint64) *sentrypb.Reply {
	r.t.Helper()
	rep := r.sys(1, sysno, args...)
	if unix.Errno(rep.Errno) != e {
		r.t.Fatalf("%s%v: errno %v, want %v", syscalls.Name(int32(sysno)), args, unix.Errno(rep.Errno), e)
	}
	return rep
}
