package client

import (
	"golang.org/x/sys/unix"

	pb "github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
)

// Terminal queries of regular files and of stdio that is no terminal,
// answered on the client.
//
// isatty(3) is ioctl(fd, TCGETS), and programs ask it of the files they
// open: Python of every module it imports (115 waited calls when it
// starts), a pager or ls of its output. On Linux a regular file has no
// terminal ioctls (ENOTTY, from vfs_ioctl's default: no file system
// serves TCGETS), and a description's file type never changes, so when
// the client's copy of the caller's fd table names a description the
// records say is a regular file served by the gofer (pipeFile.regular),
// the question is answered here.
//
// Programs ask it of their stdio too: gcc, cc1, as and ld each ask of
// stderr (make -j2 of 9 files: 63 waited calls). A stdio description
// (FileState_STDIO) is a terminal exactly when the StdioInfo its set was
// made with said so (the client's own set from Hello.stdio, a spawned
// process's from Spawn.stdio); that never changes, a resumed session
// sending the same Hello and sets. The server answers every terminal
// query of one that is not with ENOTTY (syscalls.Ioctl), so the client
// does. A terminal's queries are still sent: its modes, size and
// foreground group are the server's.

// terminalQueries are the ioctls that ask a terminal for its modes,
// window size or foreground process group.
var terminalQueries = map[uint32]bool{
	unix.TCGETS:     true,
	unix.TIOCGWINSZ: true,
	unix.TIOCGPGRP:  true,
}

// notATerminal says whether t's ioctl(fd, req) fails with ENOTTY here:
// req is a terminal query and fd the caller's regular file, or a stream
// of a stdio set that is no terminal.
func (t *task) notATerminal(args [6]uint64) bool {
	if !terminalQueries[uint32(args[1])] {
		return false
	}
	id, ok := t.c.ids.fileOf(t.proc.pid, int32(args[0]))
	if !ok {
		return false
	}
	f, known := t.c.pipe.fileOf(id)
	if !known || !(f.regular || f.stdio && !t.c.stdioTerminal(f.stdioSet, f.stdioStream)) {
		return false
	}
	t.cached = true
	return true
}

// stdioTerminal says whether stream (0-2) of stdio set is a terminal,
// or may be: an unknown set or stream is taken for one (its query is
// sent).
func (c *client) stdioTerminal(set uint32, stream int32) bool {
	if stream < 0 || stream >= int32(len(c.ownStdioTTY)) {
		return true
	}
	if set == 0 {
		return c.ownStdioTTY[stream]
	}
	s := c.setOf(set)
	if s == nil {
		return true
	}
	return terminalStreams(s.info)[stream]
}

// terminalStreams says which of fds 0-2 infos call terminals, as the
// server reads them (the last StdioInfo of an fd counts; none: not a
// terminal).
func terminalStreams(infos []*pb.StdioInfo) [3]bool {
	var tty [3]bool
	for _, si := range infos {
		if si != nil && si.Fd >= 0 && si.Fd < 3 {
			tty[si.Fd] = si.IsTty
		}
	}
	return tty
}
