package client

import (
	"golang.org/x/sys/unix"
)

// Terminal queries of regular files, answered on the client.
//
// isatty(3) is ioctl(fd, TCGETS), and programs ask it of the files they
// open: Python of every module it imports (115 waited calls when it
// starts), a pager or ls of its output. On Linux a regular file has no
// terminal ioctls (ENOTTY, from vfs_ioctl's default: no file system
// serves TCGETS), and a description's file type never changes, so when
// the client's copy of the caller's fd table names a description the
// records say is a regular file served by the gofer (pipeFile.regular),
// the question is answered here.

// terminalQueries are the ioctls that ask a terminal for its modes,
// window size or foreground process group.
var terminalQueries = map[uint32]bool{
	unix.TCGETS:     true,
	unix.TIOCGWINSZ: true,
	unix.TIOCGPGRP:  true,
}

// notATerminal says whether t's ioctl(fd, req) fails with ENOTTY here:
// req is a terminal query and fd the caller's regular file.
func (t *task) notATerminal(args [6]uint64) bool {
	if !terminalQueries[uint32(args[1])] {
		return false
	}
	id, ok := t.c.ids.fileOf(t.proc.pid, int32(args[0]))
	if !ok {
		return false
	}
	f, known := t.c.pipe.fileOf(id)
	if !known || !f.regular {
		return false
	}
	t.cached = true
	return true
}
