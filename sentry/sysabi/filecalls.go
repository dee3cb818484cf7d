package sysabi

import "golang.org/x/sys/unix"

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
