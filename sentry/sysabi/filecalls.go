package sysabi

import (
	"math"

	"golang.org/x/sys/unix"
)

// The ioctls the remote sentry serves on every open file
// (syscalls.Ioctl): the fd's close-on-exec flag, O_NONBLOCK and the count
// of bytes left to read.
const (
	FIONCLEX = 0x5450
	FIOCLEX  = 0x5451
	FIONBIO  = 0x5421
	FIONREAD = 0x541B
)

// RegularFileIoctl says whether the remote sentry serves ioctl req on a
// regular file of the gofer; every other fails ENOTTY there, as on a
// Linux file system that implements none of them (cp's FICLONE, isatty's
// TCGETS). A description's file type never changes, so a client that
// knows the fd's description is such a file answers the rest itself.
func RegularFileIoctl(req uint32) bool {
	switch req {
	case FIONCLEX, FIOCLEX, FIONBIO, FIONREAD:
		return true
	}
	return false
}

// FadviseErrno returns fadvise64's error for a file that is no pipe,
// FIFO or socket (those fail ESPIPE) and not O_PATH (EBADF), with length
// and advice as given: EINVAL for a negative length or an advice Linux
// does not know, else none (the advice changes nothing the application
// sees).
func FadviseErrno(length int64, advice uint64) unix.Errno {
	if length < 0 || advice > unix.FADV_NOREUSE {
		return unix.EINVAL
	}
	return 0
}

// SyncFileRangeErrno returns sync_file_range's error for its offset, count
// and flags (the call's second to fourth arguments), which Linux checks
// after the fd and before the file's type: EINVAL for a flag it does not
// know, a negative offset or count, or a range past the largest offset;
// else none.
func SyncFileRangeErrno(off, n int64, flags uint32) unix.Errno {
	if flags&^unix.SYNC_FILE_RANGE_WRITE_AND_WAIT != 0 || off < 0 || n < 0 || off > math.MaxInt64-n {
		return unix.EINVAL
	}
	return 0
}

// SyncFileRangeReportsWriteError says whether sync_file_range(args)
// returns the write-back error a description keeps (a write behind's
// that failed after the application was told it succeeded), as fdatasync
// does: when it passes its checks and waits for the range's write-out
// (SYNC_FILE_RANGE_WAIT_BEFORE or _AFTER), which on Linux reports the
// file's write-back errors. The remote sentry's posted.go and the
// client's writebehind.go follow the same rule.
func SyncFileRangeReportsWriteError(args [6]uint64) bool {
	flags := uint32(args[3])
	return flags&(unix.SYNC_FILE_RANGE_WAIT_BEFORE|unix.SYNC_FILE_RANGE_WAIT_AFTER) != 0 &&
		SyncFileRangeErrno(int64(args[1]), int64(args[2]), flags) == 0
}
