package sysabi

import (
	"math"
	"testing"

	"golang.org/x/sys/unix"
)

// TestSyncFileRange: sync_file_range's argument checks (EINVAL for an
// unknown flag, a negative offset or count, a range past the largest
// offset) and which calls report a kept write-back error: those that
// pass them and wait for a write-out, before or after it.
func TestSyncFileRange(t *testing.T) {
	const (
		before = unix.SYNC_FILE_RANGE_WAIT_BEFORE
		write  = unix.SYNC_FILE_RANGE_WRITE
		after  = unix.SYNC_FILE_RANGE_WAIT_AFTER
	)
	for _, tc := range []struct {
		name    string
		off, n  int64
		flags   uint32
		errno   unix.Errno
		reports bool
	}{
		{"no flags", 0, 0, 0, 0, false},
		{"write", 0, 0, write, 0, false},
		{"wait before", 0, 0, before, 0, true},
		{"wait after", 4096, 4096, after, 0, true},
		{"all three", 0, 0, before | write | after, 0, true},
		{"up to the largest offset", math.MaxInt64 - 1, 1, after, 0, true},
		{"from the largest offset", math.MaxInt64, 0, after, 0, true},
		{"unknown flag", 0, 0, 8 | after, unix.EINVAL, false},
		{"high flag", 0, 0, 1 << 31, unix.EINVAL, false},
		{"negative offset", -1, 0, after, unix.EINVAL, false},
		{"negative count", 0, -1, after, unix.EINVAL, false},
		{"past the largest offset", math.MaxInt64, 1, after, unix.EINVAL, false},
		{"overflow", 1 << 62, 1 << 62, after, unix.EINVAL, false},
	} {
		if got := SyncFileRangeErrno(tc.off, tc.n, tc.flags); got != tc.errno {
			t.Errorf("%s: SyncFileRangeErrno = %v, want %v", tc.name, got, tc.errno)
		}
		// The flags argument is an unsigned int: its upper half is not
		// the call's.
		args := [6]uint64{3, uint64(tc.off), uint64(tc.n), uint64(tc.flags) | 1<<40}
		if got := SyncFileRangeReportsWriteError(args); got != tc.reports {
			t.Errorf("%s: SyncFileRangeReportsWriteError = %v, want %v", tc.name, got, tc.reports)
		}
	}
}
