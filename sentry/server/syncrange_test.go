package server

import (
	"math"
	"testing"

	"golang.org/x/sys/unix"
)

// fileKinds opens one fd of each kind of file the hint and sync calls
// tell apart: regular (read-write, read-only, write-only, O_PATH), a
// directory, both ends of a pipe, /dev/null, an AF_UNIX socket and an
// eventfd.
func fileKinds(e *env) map[string]uint64 {
	fds := map[string]uint64{
		"regular":    e.open("/tmp/k", unix.O_RDWR|unix.O_CREAT),
		"read-only":  e.open("/tmp/k", unix.O_RDONLY),
		"write-only": e.open("/tmp/k", unix.O_WRONLY),
		"O_PATH":     e.open("/tmp/k", unix.O_PATH),
		"directory":  e.open("/tmp", unix.O_RDONLY|unix.O_DIRECTORY),
		"/dev/null":  e.open("/dev/null", unix.O_RDWR),
		"socket":     uint64(e.ok(1, unix.SYS_SOCKET, unix.AF_UNIX, unix.SOCK_STREAM, 0)),
		"eventfd":    uint64(e.ok(1, unix.SYS_EVENTFD2, 0, 0)),
		"bad":        999,
	}
	p := e.mem.zeros(8)
	e.ok(1, unix.SYS_PIPE2, p, 0)
	fds["pipe read end"], fds["pipe write end"] = uint64(e.mem.u32(p)), uint64(e.mem.u32(p+4))
	return fds
}

// TestSyncFileRangeErrors: sync_file_range's checks in Linux's order:
// EBADF for an fd that is not open (or O_PATH), then EINVAL for a flag
// it does not know, a negative offset or count or a range past the
// largest offset, then ESPIPE for a file of no pages (pipe, socket,
// device, eventfd); any open mode will do, a directory too.
func TestSyncFileRangeErrors(t *testing.T) {
	e := started(t)
	fds := fileKinds(e)
	const (
		write = unix.SYNC_FILE_RANGE_WRITE
		all   = unix.SYNC_FILE_RANGE_WRITE_AND_WAIT
	)
	neg := func(n int64) uint64 { return uint64(n) }
	for _, tc := range []struct {
		file          string
		off, n, flags uint64
		want          unix.Errno
	}{
		{"regular", 0, 0, 0, 0},
		{"regular", 0, 4096, all, 0},
		{"regular", 1 << 40, 1 << 20, write, 0},
		{"read-only", 0, 0, all, 0},
		{"write-only", 0, 0, unix.SYNC_FILE_RANGE_WAIT_AFTER, 0},
		{"directory", 0, 0, all, 0},
		{"regular", 0, 1, 8, unix.EINVAL},
		{"regular", 0, 1, all | 1<<31, unix.EINVAL},
		{"regular", neg(-1), 1, unix.SYNC_FILE_RANGE_WAIT_BEFORE, unix.EINVAL},
		{"regular", 0, neg(-1), write, unix.EINVAL},
		{"regular", 1 << 62, 1 << 62, write, unix.EINVAL},
		{"regular", math.MaxInt64, 1, write, unix.EINVAL},
		{"regular", math.MaxInt64, 0, write, 0},
		{"bad", 0, 1, write, unix.EBADF},
		{"bad", 0, 1, 8, unix.EBADF},
		{"O_PATH", 0, 0, all, unix.EBADF},
		{"pipe read end", 0, 0, 0, unix.ESPIPE},
		{"pipe write end", 0, 1, write, unix.ESPIPE},
		{"pipe read end", 0, 0, 8, unix.EINVAL},
		{"pipe read end", neg(-1), 0, 0, unix.EINVAL},
		{"/dev/null", 0, 1, unix.SYNC_FILE_RANGE_WAIT_AFTER, unix.ESPIPE},
		{"/dev/null", neg(-1), 1, 0, unix.EINVAL},
		{"socket", 0, 0, all, unix.ESPIPE},
		{"eventfd", 0, 0, all, unix.ESPIPE},
	} {
		if rep := e.sys(1, unix.SYS_SYNC_FILE_RANGE, fds[tc.file], tc.off, tc.n, tc.flags); unix.Errno(rep.Errno) != tc.want {
			t.Errorf("sync_file_range(%s, %d, %d, %#x): errno %v, want %v", tc.file, int64(tc.off), int64(tc.n), tc.flags, unix.Errno(rep.Errno), tc.want)
		}
	}
}

// TestReadaheadErrors: readahead's answers as Linux's: EBADF for an fd
// not open for reading (O_PATH, write-only, a pipe's write end), EINVAL
// for a file that is not regular or a count past the largest offset,
// and 0 for a regular file, whatever the offset (a hint: nothing is
// read).
func TestReadaheadErrors(t *testing.T) {
	e := started(t)
	fds := fileKinds(e)
	for _, tc := range []struct {
		file   string
		off, n uint64
		want   unix.Errno
	}{
		{file: "regular", n: 4096},
		{file: "read-only", n: 0},
		{file: "read-only", off: 1 << 40, n: 1 << 40},
		{file: "read-only", off: uint64(1<<64 - 4096), n: 10},
		{file: "regular", n: math.MaxInt64},
		{file: "regular", n: math.MaxInt64 + 1, want: unix.EINVAL},
		{file: "regular", n: 1<<64 - 1, want: unix.EINVAL},
		{file: "bad", n: 1, want: unix.EBADF},
		{file: "O_PATH", n: 1, want: unix.EBADF},
		{file: "write-only", n: 1, want: unix.EBADF},
		{file: "pipe write end", n: 1, want: unix.EBADF},
		{file: "pipe read end", n: 1, want: unix.EINVAL},
		{file: "directory", n: 1, want: unix.EINVAL},
		{file: "/dev/null", n: 1, want: unix.EINVAL},
		{file: "socket", n: 1, want: unix.EINVAL},
		{file: "eventfd", n: 1, want: unix.EINVAL},
	} {
		if rep := e.sys(1, unix.SYS_READAHEAD, fds[tc.file], tc.off, tc.n); unix.Errno(rep.Errno) != tc.want {
			t.Errorf("readahead(%s, %d, %d): errno %v, want %v", tc.file, int64(tc.off), tc.n, unix.Errno(rep.Errno), tc.want)
		}
	}
	// The hint moves no offset.
	if off := e.ok(1, unix.SYS_LSEEK, fds["read-only"], 0, unix.SEEK_CUR); off != 0 {
		t.Errorf("offset %d after readahead, want 0", off)
	}
}

// TestSyncFileRangeDurable: a sync_file_range that writes the range out
// or waits for that makes the file's writes durable before its reply,
// as fdatasync: the client is told (a Durable push) and drops them from
// its log.
func TestSyncFileRangeDurable(t *testing.T) {
	for _, tc := range []struct {
		name          string
		off, n, flags uint64
	}{
		{"write", 0, 0, unix.SYNC_FILE_RANGE_WRITE},
		{"wait after", 0, 0, unix.SYNC_FILE_RANGE_WAIT_AFTER},
		{"write and wait", 0, 0, unix.SYNC_FILE_RANGE_WRITE_AND_WAIT},
		{"the written range", 0, 5, unix.SYNC_FILE_RANGE_WRITE_AND_WAIT},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newReplayer(t)
			r.start()
			fd := r.open("/tmp/w", unix.O_CREAT|unix.O_RDWR)
			file, seq := r.retainedWrite(fd, "hello")
			r.ok(1, unix.SYS_SYNC_FILE_RANGE, fd, tc.off, tc.n, tc.flags)
			durable := r.durableSeq(file)
			if durable < seq {
				t.Errorf("sync_file_range returned before a Durable push covered seq %d (got %d)", seq, durable)
			}
			for _, rec := range r.records() {
				if w := rec.GetWrite(); w != nil {
					t.Errorf("write %d still retained after sync_file_range", w.Seq)
				}
			}
		})
	}
}
