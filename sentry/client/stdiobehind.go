package client

import (
	"golang.org/x/sys/unix"

	"github.com/runsc-decoupled/runsc-decoupled/sentry/sysabi"
)

// Stdio writes behind (docs/COMPATIBILITY.md, "Pipelined calls").
//
// The sandbox's stdout and stderr are the client's own (or a spawned
// process's stdio set's): the server's description of such a stream
// (kernel.StdioFile) turns each write into an Output push to this client,
// which prints it, and returns the count. It never blocks, fails or
// writes less when the stream is no terminal (a terminal's writes may
// stop the process, SIGTTOU, and are the server's), so the count is known
// here: write(2) and writev(2) of readable bytes to such a stream opened
// for writing are posted and return it at once. GNU find printing 100 KiB
// of names waited a round trip for each 4 KiB of its output, behind the
// thread's posted calls.
//
// The output still goes through the server, in order with every other
// call's: the push comes before the posted call's reply, other threads'
// writes of the stream after it (the server's order rules). A recovery
// re-sends the call with its seq, and its output is printed once
// (remoteSession.PrintOutput). Output to a closed pipe behind the client
// (`do yes | head`) ends it with SIGPIPE when it prints it, posted or not.
//
// As for other posted calls, the process has one thread and an fd table
// of its own (the fd cannot change between this check and the server's
// run), and no inotify instance exists (a write is an IN_MODIFY of the
// /proc/<pid>/fd/N it names).

// stdioBehind posts write(2) or writev(2) to a non-terminal stdio stream
// (see above), if it may, and returns its count.
func (t *task) stdioBehind(sysno uintptr, args [6]uint64) (uint64, bool) {
	if sysno != unix.SYS_WRITE && sysno != unix.SYS_WRITEV {
		return 0, false
	}
	file, ok := t.c.ids.soleFD(t.proc.pid, int32(args[0]))
	if !ok {
		return 0, false
	}
	f, known := t.c.pipe.fileOf(file)
	if !known || !f.stdio || f.flags&unix.O_ACCMODE == unix.O_RDONLY || f.flags&unix.O_PATH != 0 ||
		t.c.stdioTerminal(f.stdioSet, f.stdioStream) || t.c.inotifyUsed.Load() || !t.singleThreaded() {
		return 0, false
	}
	inputs := sysabi.Inputs(sysno, args, appMemory{t})
	n, ok := writeCount(sysno, args, inputs)
	// It changes no file the read and path caches answer about: posted
	// as a pipe's write is, their answers still hold meanwhile.
	if !ok || n == 0 || !t.postChange(newPostedCall(t.tid, sysno, args, inputs), nil, "", 0, noChange, 0) {
		return 0, false
	}
	return n, true
}
