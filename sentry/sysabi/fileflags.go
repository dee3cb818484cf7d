package sysabi

import (
	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"
)

// KeptOpenFlags are the open flags an open file description remembers:
// all but those Linux drops after the open (O_CREAT, O_EXCL, O_NOCTTY,
// O_TRUNC, O_CLOEXEC, O_LARGEFILE).
const KeptOpenFlags = unix.O_ACCMODE | unix.O_APPEND | unix.O_NONBLOCK | unix.O_DIRECT | unix.O_SYNC |
	unix.O_DSYNC | unix.O_NOATIME | unix.O_PATH | unix.O_ASYNC | unix.O_DIRECTORY | unix.O_NOFOLLOW

// StatusFlags returns fcntl F_GETFL's answer for a description whose
// kept flags (KeptOpenFlags) are kept, as Linux's: an O_PATH one's only
// O_PATH, O_DIRECTORY and O_NOFOLLOW; any other's with O_LARGEFILE (on
// 64-bit, every open is a large-file one).
func StatusFlags(kept uint32) uint32 {
	if kept&unix.O_PATH != 0 {
		return kept & (unix.O_PATH | unix.O_DIRECTORY | unix.O_NOFOLLOW)
	}
	return kept | linux.O_LARGEFILE
}
