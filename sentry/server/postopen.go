package server

import (
	"golang.org/x/sys/unix"

	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/vfs"
)

// Posted opens (docs/COMPATIBILITY.md, "Pipelined calls"): the client
// posts a read-only open whose success a path lease told it (the answer
// of the same open by the same credentials from the same start), and
// tells the application the lowest free fd of its copy of the caller's
// fd table at once (Syscall.install_fd). The server installs the
// description at exactly that fd; Reply.opened_file names it, since the
// client already answers fstat and read of the fd from a read lease it
// holds for the file and must then know which description that fd is.

// installPostedOpen installs f, just opened, at fd (see above): EMFILE
// at or above RLIMIT_NOFILE, EBUSY if fd is open, unless this is a
// re-sent call (the fd's record, folded by the client before the first
// execution's reply was lost, restored the description it had made: it
// is replaced, and calls re-sent after it redo what they did to it).
func installPostedOpen(c *syscallCtx, tab *fdTable, f *file, fd int32, cloexec bool) (int64, error) {
	id := c.Kernel.FileID(f)
	old, err := tab.InstallExact(fd, f, cloexec, c.Resent())
	if err != nil {
		c.Kernel.Log.Warn("a posted open could not install its description at the fd the client told the application",
			"fd", fd, "errno", err)
		return 0, err
	}
	if old != nil {
		old.DecRef()
	}
	// The description's first record goes with this reply (its id was
	// assigned here, not when its fd's record is derived).
	c.Kernel.Trk.TouchFile(f)
	if c.Reply != nil {
		c.Reply.OpenedFile = id
	}
	return int64(fd), nil
}

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
func openLeasable(c *syscallCtx) bool {
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

// checkOpenedLeasable notes where an open that may get a path lease
// ended its walk (the file opened, whose attributes the lease then
// covers: pathlease.go), and refuses the lease to one that opened
// anything but a regular gofer file or a gofer directory: a device, a
// FIFO (whose open may block), a synthesised file.
func checkOpenedLeasable(c *syscallCtx, f *file) {
	if c.PathView == nil {
		return
	}
	d := vfs.DentryOf(f)
	if d == nil || d.Kind != vfs.KindGofer || !(d.IsRegular() || d.IsDir()) {
		c.NotLeasable = true
		return
	}
	c.PathView.NoteFinal(d)
}
