package client

import (
	"golang.org/x/sys/unix"

	pb "github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/sysabi"
)

// ioctl and fadvise64 of regular files, and terminal queries of stdio
// that is no terminal, answered on the client.
//
// A description's file type never changes, and the server serves no
// ioctl on a regular file of the gofer but the four every file has
// (sysabi.RegularFileIoctl): the rest fail ENOTTY, as on a Linux file
// system that implements none of them. So when the client's copy of the
// caller's fd table names a description the records say is such a file
// (pipeFile.regular) not opened O_PATH (EBADF there), the call is
// answered here. isatty(3) is ioctl(fd, TCGETS), which Python asks of
// every module it imports (115 waited calls when it starts), and cp asks
// FICLONE of each file it copies. fadvise64 of such a file changes
// nothing the application sees: its answer depends on the arguments
// alone (sysabi.FadviseErrno; cp advises sequential reads of each
// source).
//
// Programs ask terminal queries of their stdio too: gcc, cc1, as and ld
// each ask of stderr (make -j2 of 9 files: 63 waited calls). A stdio
// description (FileState_STDIO) is a terminal exactly when the StdioInfo
// its set was made with said so (the client's own set from Hello.stdio,
// a spawned process's from Spawn.stdio); that never changes, a resumed
// session sending the same Hello and sets. The server answers every
// terminal query of one that is not with ENOTTY (syscalls.Ioctl), so the
// client does. A terminal's queries are still sent: its modes, size and
// foreground group are the server's.

// terminalQueries are the ioctls that ask a terminal for its modes,
// window size or foreground process group.
var terminalQueries = map[uint32]bool{
	unix.TCGETS:     true,
	unix.TIOCGWINSZ: true,
	unix.TIOCGPGRP:  true,
}

// fdRecord returns the records' view of the description of fd of t's
// process (known false: none known).
func (t *task) fdRecord(fd int32) (f pipeFile, known bool) {
	id, ok := t.c.ids.fileOf(t.proc.pid, fd)
	if !ok {
		return pipeFile{}, false
	}
	f, known = t.c.pipe.fileOf(id)
	return f, known
}

// openRegular says whether f is a regular file of the gofer not opened
// O_PATH (whose calls fail EBADF on the server).
func (f pipeFile) openRegular() bool { return f.regular && f.flags&unix.O_PATH == 0 }

// notServedIoctl says whether t's ioctl(fd, req) fails with ENOTTY here:
// fd is the caller's regular file (not O_PATH) and req none of those
// such a file serves, or fd is a stream of a stdio set that is no
// terminal and req a terminal query.
func (t *task) notServedIoctl(args [6]uint64) bool {
	req := uint32(args[1])
	if sysabi.RegularFileIoctl(req) {
		return false
	}
	f, known := t.fdRecord(int32(args[0]))
	if !known {
		return false
	}
	if !f.openRegular() && !(terminalQueries[req] && f.stdio && !t.c.stdioTerminal(f.stdioSet, f.stdioStream)) {
		return false
	}
	t.cached = true
	return true
}

// fadviseOnClient answers t's fadvise64(fd, offset, len, advice) if fd is
// the caller's regular file (not O_PATH).
func (t *task) fadviseOnClient(args [6]uint64) (unix.Errno, bool) {
	f, known := t.fdRecord(int32(args[0]))
	if !known || !f.openRegular() {
		return 0, false
	}
	t.cached = true
	return sysabi.FadviseErrno(int64(args[2]), args[3]), true
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
