package client

import (
	"golang.org/x/sys/unix"
)

// Answers for a process with several threads (docs/COMPATIBILITY.md,
// "Pipelined calls").
//
// The client answers a call, or posts it, from what it knows of the
// server's state after the calls sent before it. With one thread those
// are all of the process's calls that could matter. With several,
// another thread's call sent earlier may still be running, or not yet
// begun, on the server when this one is answered: the server runs a call
// a thread waits on only after the posted calls sent before it, not the
// other way round. So a thread of such a process answers or posts only
// when no call of another thread in flight could change what the answer
// rests on:
//
//   - the fd's identity: close, close_range, dup2, dup3 and execve
//     (process.fdRemovals);
//   - a description's offset: the read, write, lseek, getdents, sendfile,
//     copy_file_range and splice calls naming it (process.offsetCalls).
//
// Those calls are counted under process.callOrder from before their seq
// is drawn until their reply is folded. The answering thread holds
// callOrder from its check until it has posted what it posts: a call
// counted after the check draws a higher seq, and runs on the server
// after what was posted.

// removesFDs are the calls that may close or replace an fd of the
// caller's table.
var removesFDs = map[uintptr]bool{
	unix.SYS_CLOSE: true, unix.SYS_CLOSE_RANGE: true, unix.SYS_DUP2: true, unix.SYS_DUP3: true,
	unix.SYS_EXECVE: true, unix.SYS_EXECVEAT: true,
}

// offsetFDArgs are, for the calls that may use or move a description's
// offset, the indexes of the arguments that are such an fd.
var offsetFDArgs = map[uintptr][]int{
	unix.SYS_READ: {0}, unix.SYS_READV: {0}, unix.SYS_PREADV2: {0},
	unix.SYS_WRITE: {0}, unix.SYS_WRITEV: {0}, unix.SYS_PWRITEV2: {0},
	unix.SYS_LSEEK: {0}, unix.SYS_GETDENTS: {0}, unix.SYS_GETDENTS64: {0},
	unix.SYS_SENDFILE: {0, 1}, unix.SYS_COPY_FILE_RANGE: {0, 2}, unix.SYS_SPLICE: {0, 2},
}

// orderedCall is what beginOrdered counted of a call, for endOrdered.
type orderedCall struct {
	removal bool
	// descs are the descriptions whose offset the call may move (at
	// most two).
	descs [2]uint64
	n     int
}

// beginOrdered counts call sysno(args) of t, of a process with several
// threads, if it may remove an fd or move a description's offset; it
// reports whether it counted anything (then endOrdered must follow the
// folding of its reply).
func (t *task) beginOrdered(sysno uintptr, args [6]uint64) (orderedCall, bool) {
	removal := removesFDs[sysno]
	idx := offsetFDArgs[sysno]
	if !removal && idx == nil || t.singleThreaded() {
		// With one thread no other call is in flight: the thread
		// that could add one is this one.
		return orderedCall{}, false
	}
	oc := orderedCall{removal: removal}
	for _, i := range idx {
		if desc, ok := t.c.ids.descriptionOf(t.proc.pid, int32(args[i])); ok {
			oc.descs[oc.n] = desc
			oc.n++
		}
	}
	if !removal && oc.n == 0 {
		return orderedCall{}, false
	}
	p := t.proc
	p.callOrder.Lock()
	defer p.callOrder.Unlock()
	if removal {
		p.fdRemovals++
	}
	for _, d := range oc.descs[:oc.n] {
		if p.offsetCalls == nil {
			p.offsetCalls = make(map[uint64]int)
		}
		p.offsetCalls[d]++
	}
	return oc, true
}

// endOrdered uncounts what beginOrdered counted.
func (t *task) endOrdered(p *process, oc orderedCall) {
	p.callOrder.Lock()
	defer p.callOrder.Unlock()
	if oc.removal {
		p.fdRemovals--
	}
	for _, d := range oc.descs[:oc.n] {
		if p.offsetCalls[d]--; p.offsetCalls[d] <= 0 {
			delete(p.offsetCalls, d)
		}
	}
}

// othersQuietLocked says that no call of another thread of p in flight
// may remove an fd or, when offset is set, move description desc's
// offset. Precondition: p.callOrder is held.
func (p *process) othersQuietLocked(desc uint64, offset bool) bool {
	return p.fdRemovals == 0 && (!offset || p.offsetCalls[desc] == 0)
}

// orderedCachedRead, orderedCachedFstat and orderedCachedLseek are
// cachedRead, cachedFstat and cachedLseek holding t.proc.callOrder
// through the answer and its posted offset move.
func (t *task) orderedCachedRead(sysno uintptr, args [6]uint64) (uint64, bool) {
	p := t.proc
	p.callOrder.Lock()
	defer p.callOrder.Unlock()
	return t.cachedRead(sysno, args)
}

func (t *task) orderedCachedFstat(sysno uintptr, args [6]uint64) bool {
	p := t.proc
	p.callOrder.Lock()
	defer p.callOrder.Unlock()
	return t.cachedFstat(sysno, args)
}

func (t *task) orderedCachedLseek(args [6]uint64) (uint64, bool) {
	p := t.proc
	p.callOrder.Lock()
	defer p.callOrder.Unlock()
	return t.cachedLseek(args)
}
