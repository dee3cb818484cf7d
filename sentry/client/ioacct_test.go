package client

import (
	"testing"

	"golang.org/x/sys/unix"
)

// TestIOAccount: the read family counts in rchar and syscr, the write
// family in wchar and syscw, sendfile and copy_file_range in both; a
// failed call counts as a call of no bytes, but EBADF not at all; other
// calls (recvfrom, sendmsg, splice) do not count.
func TestIOAccount(t *testing.T) {
	for _, tc := range []struct {
		name  string
		sysno uintptr
		ret   uint64
		errno unix.Errno
		want  ioCounts
	}{
		{"read", unix.SYS_READ, 5, 0, ioCounts{5, 0, 1, 0}},
		{"readv", unix.SYS_READV, 7, 0, ioCounts{7, 0, 1, 0}},
		{"pread64 at EOF", unix.SYS_PREAD64, 0, 0, ioCounts{0, 0, 1, 0}},
		{"preadv", unix.SYS_PREADV, 1, 0, ioCounts{1, 0, 1, 0}},
		{"preadv2", unix.SYS_PREADV2, 2, 0, ioCounts{2, 0, 1, 0}},
		{"read EAGAIN", unix.SYS_READ, 0, unix.EAGAIN, ioCounts{0, 0, 1, 0}},
		{"read EBADF", unix.SYS_READ, 0, unix.EBADF, ioCounts{}},
		{"write", unix.SYS_WRITE, 3, 0, ioCounts{0, 3, 0, 1}},
		{"writev", unix.SYS_WRITEV, 4, 0, ioCounts{0, 4, 0, 1}},
		{"pwrite64", unix.SYS_PWRITE64, 9, 0, ioCounts{0, 9, 0, 1}},
		{"pwritev", unix.SYS_PWRITEV, 8, 0, ioCounts{0, 8, 0, 1}},
		{"pwritev2", unix.SYS_PWRITEV2, 6, 0, ioCounts{0, 6, 0, 1}},
		{"write EPIPE", unix.SYS_WRITE, 0, unix.EPIPE, ioCounts{0, 0, 0, 1}},
		{"sendfile", unix.SYS_SENDFILE, 100, 0, ioCounts{100, 100, 1, 1}},
		{"copy_file_range", unix.SYS_COPY_FILE_RANGE, 50, 0, ioCounts{50, 50, 1, 1}},
		{"recvfrom", unix.SYS_RECVFROM, 5, 0, ioCounts{}},
		{"sendmsg", unix.SYS_SENDMSG, 5, 0, ioCounts{}},
		{"splice", unix.SYS_SPLICE, 5, 0, ioCounts{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var a ioAcct
			a.account(tc.sysno, tc.ret, tc.errno)
			if got := a.counts(); got != tc.want {
				t.Errorf("counts %v, want %v", got, tc.want)
			}
		})
	}
}

// TestProcessIOCounts: a process's counts are its live threads', plus
// what its exited threads and reaped children left.
func TestProcessIOCounts(t *testing.T) {
	p := &process{threads: map[int32]*task{}}
	a, b := &task{}, &task{}
	p.threads[1], p.threads[2] = a, b
	a.io.account(unix.SYS_READ, 10, 0)
	b.io.account(unix.SYS_WRITE, 20, 0)
	p.retiredIO.add(ioCounts{1, 2, 3, 4})
	if got, want := p.ioCounts(), (ioCounts{11, 22, 4, 5}); got != want {
		t.Errorf("process counts %v, want %v", got, want)
	}
}
