package server

import (
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/kernel"
	"golang.org/x/sys/unix"
)

// Posted opens (docs/COMPATIBILITY.md, "Pipelined calls"): the client
// posts a read-only open whose success a path lease told it (the answer
// of the same open by the same credentials from the same start), and
// tells the application the lowest free fd of its copy of the caller's
// fd table at once (Syscall.install_fd). The server installs the
// description at exactly that fd; Reply.opened_file names it, since the
// client already answers fstat and read of the fd from a read lease it
// holds for the file and must then know which description that fd is.
// The open handler (package syscalls' open.go: installPostedOpen) installs
// it; what is here decides which opens a path lease may answer.

// postedOpenFlags are the flags of an open the client may post (with
// O_RDONLY): those that change nothing but which file may be opened.
const postedOpenFlags = unix.O_CLOEXEC | unix.O_NOCTTY | unix.O_LARGEFILE | unix.O_NOFOLLOW | unix.O_DIRECTORY | unix.O_NONBLOCK

// openFlagsLeasable says whether an open with flags may get a path lease
// (its success then holds while the lease does): a read-only open that
// creates, truncates and remembers nothing beyond postedOpenFlags.
func openFlagsLeasable(flags uint32) bool {
	return flags&unix.O_ACCMODE == unix.O_RDONLY && flags&^uint32(postedOpenFlags) == 0
}

// openLeasable says whether c, if an open, may get a path lease
// (pathlease.go): its flags are openFlagsLeasable. Other calls may.
func openLeasable(c *kernel.Task) bool {
	switch c.Sysno {
	case unix.SYS_OPEN:
		return openFlagsLeasable(uint32(c.Args[1]))
	case unix.SYS_OPENAT:
		return openFlagsLeasable(uint32(c.Args[2]))
	case unix.SYS_UNLINKAT:
		return c.Args[2] == 0 // negunlink.go
	}
	return true
}
