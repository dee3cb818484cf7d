package server

import (
	"golang.org/x/sys/unix"

	"github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/kernel"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/vfs"
)

// Writes ahead (sentry/server/vfs/writeahead.go): the thread's worker
// plans, before it runs a posted write, the posted writes queued behind
// it to the same fd, which that call's write may put in the file with
// its own bytes.

// maxAheadParts bounds a plan's parts (a pwritev takes at most 1,024
// vectors; a client's batch of writes behind is 64).
const maxAheadParts = 255

// planWriteAhead plans the writes ahead of thread t's call, taken off
// the front of its queue: the posted writes behind it in queue to the
// same fd by the same system call (a write's place is the description's
// offset, which a pwrite64 does not move), if call is a posted write too, and its process has no file
// size limit (each call's own checks clip its write to it). A call whose
// bytes the plan wrote ahead keeps it. Precondition: the kernel's Mu is
// held.
func planWriteAhead(t *kernel.Thread, call *sentrypb.Call, queue []*sentrypb.Call) {
	w := &t.Ahead
	if w.Pending(call.Seq) {
		return
	}
	fd, leaderOff, _, ok := aheadWrite(call)
	if !ok || len(queue) == 0 || t.Proc == nil || t.Proc.FsizeLimited {
		w.Clear()
		return
	}
	parts := w.Parts()
	for _, q := range queue {
		qfd, off, data, ok := aheadWrite(q)
		if !ok || qfd != fd || (off < 0) != (leaderOff < 0) || len(parts) == maxAheadParts {
			break
		}
		parts = append(parts, vfs.WriteAheadPart{Seq: q.Seq, Off: off, Data: data})
	}
	w.Plan(call.Seq, parts)
}

// aheadWrite reports whether call is a posted write or pwrite64 that
// brought all its bytes in one input region (their fd, the pwrite64's
// offset or -1, and the bytes).
func aheadWrite(call *sentrypb.Call) (fd uint64, off int64, data []byte, ok bool) {
	sc := call.GetSyscall()
	if sc == nil || !sc.Posted || len(sc.Args) < 3 || len(sc.Inputs) != 1 {
		return 0, 0, nil, false
	}
	switch sc.Sysno {
	case unix.SYS_WRITE:
		off = -1
	case unix.SYS_PWRITE64:
		if len(sc.Args) < 4 || int64(sc.Args[3]) < 0 {
			return 0, 0, nil, false
		}
		off = int64(sc.Args[3])
	default:
		return 0, 0, nil, false
	}
	in := sc.Inputs[0]
	if in == nil || len(in.Data) == 0 || in.Addr != sc.Args[1] || uint64(len(in.Data)) != sc.Args[2] {
		return 0, 0, nil, false
	}
	return sc.Args[0], off, in.Data, true
}
