package sysabi

import (
	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"
)

// KeptOpenFlags are the open flags an open file description remembers:
// all but those Linux drops after the open (O_CREAT, O_EXCL, O_NOCTTY,
// O_TRUNC, O_CLOEXEC). O_LARGEFILE (the kernel's 0100000: package unix's
// is 0 on amd64, as glibc's) is kept: it tells the descriptions
// open made (OpenFlags) from those of pipes, sockets and the other
// kernel objects, which F_GETFL shows.
const KeptOpenFlags = unix.O_ACCMODE | unix.O_APPEND | unix.O_NONBLOCK | unix.O_DIRECT | unix.O_SYNC |
	unix.O_DSYNC | unix.O_NOATIME | unix.O_PATH | unix.O_ASYNC | unix.O_DIRECTORY | unix.O_NOFOLLOW |
	linux.O_LARGEFILE

// pathOpenFlags are the flags an O_PATH open keeps (Linux's O_PATH_FLAGS).
const pathOpenFlags = unix.O_PATH | unix.O_DIRECTORY | unix.O_NOFOLLOW | unix.O_CLOEXEC

// OpenFlags returns the flags open, openat, openat2 and creat open with,
// given the caller's: as Linux on 64-bit (force_o_largefile), every open
// is a large-file one, O_LARGEFILE added, except an O_PATH open, whose
// flags are only O_PATH_FLAGS (build_open_how). memfd_create's
// descriptions have O_LARGEFILE too; no other kind's has.
func OpenFlags(flags uint32) uint32 {
	if flags&unix.O_PATH != 0 {
		return flags & pathOpenFlags
	}
	return flags | linux.O_LARGEFILE
}

// StatusFlags returns fcntl F_GETFL's answer for a description whose
// kept flags (KeptOpenFlags) are kept, as Linux's: an O_PATH one's only
// O_PATH, O_DIRECTORY and O_NOFOLLOW; any other's all of them, O_LARGEFILE
// included when its open set it (OpenFlags).
func StatusFlags(kept uint32) uint32 {
	if kept&unix.O_PATH != 0 {
		return kept & (unix.O_PATH | unix.O_DIRECTORY | unix.O_NOFOLLOW)
	}
	return kept
}
