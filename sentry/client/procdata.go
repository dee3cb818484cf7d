package client

import (
	"bytes"

	"golang.org/x/sys/unix"

	pb "github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/sysabi"
)

// /proc files read from their content at the open (docs/ARCHITECTURE.md,
// "The client's read cache").
//
// The server's /proc files take their content at the open and return it
// until a read at offset 0 after the first takes it again, as Linux's seq
// files start over there. A waited read-only open of a /proc path by a
// process of one thread asks for that content (Syscall.proc_data_wanted);
// the reply brings it (Reply.proc_data) for a file read whole, readable,
// of at most 64 KiB. The client then answers read(2) of the description
// from it and posts the read itself, so that the server's description
// moves its offset and marks its content used as the answered read did
// (its reply's bytes are not used); a read at the end after the first is
// answered with nothing and not posted (it would change nothing there).
// Every Go program reads /proc/self/cgroup and /proc/self/mountinfo to
// the end at its start (the runtime's CPU limit): six waited calls, now
// two.
//
// A read is answered while the process has one thread, the description
// is in no other fd table, and it is not a read at offset 0 after the
// first (which takes the content again: forwarded). The content is
// forgotten before any other call naming one of the description's fds is
// forwarded (an lseek, a pread, a read not answered here), when the
// description is closed, and at a recovery.

// maxProcContents bounds the /proc contents kept at once (each at most
// sysabi.MaxProcData: a larger one is not kept): an open beyond them does
// not ask.
const maxProcContents = 64

// procContent is a /proc file description's content at its open.
// Protected by readCache.mu.
type procContent struct {
	// data is the content; off the description's offset; read says a
	// read used the content (so a read at offset 0 takes it again).
	data []byte
	off  int64
	read bool
}

// procPrefix starts the paths whose opens ask for their content.
var procPrefix = []byte("/proc/")

// procDataWanted says whether the waited open or openat (sysno, args)
// asks for its /proc file's content (Syscall.proc_data_wanted): a
// read-only open of an absolute /proc path by a process of one thread.
func (t *task) procDataWanted(sysno uintptr, args [6]uint64) bool {
	rc := t.c.rcache
	if rc == nil || !readOnlyOpen(sysno, args) || rc.procCount.Load() >= maxProcContents || !t.singleThreaded() {
		return false
	}
	addr := args[0]
	if sysno == unix.SYS_OPENAT {
		addr = args[1]
	}
	path, err := appMemory{t}.ReadString(addr, sysabi.PathMax)
	return err == nil && bytes.HasPrefix(path, procPrefix)
}

// keepProcData keeps the content d of the /proc file t's open made fd
// for fd's description.
func (t *task) keepProcData(fd int32, d *pb.ProcData) {
	rc := t.c.rcache
	desc, ok := t.c.ids.soleFD(t.proc.pid, fd)
	if rc == nil || !ok || len(d.GetData()) > sysabi.MaxProcData {
		return
	}
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if rc.procData == nil {
		rc.procData = make(map[uint64]*procContent)
	}
	rc.procData[desc] = &procContent{data: d.GetData()}
	rc.procCount.Store(int32(len(rc.procData)))
}

// procDataRead answers read(2) (args) of a /proc file from its content
// at the open, if it may (see above), and returns the count.
func (t *task) procDataRead(args [6]uint64) (uint64, bool) {
	rc := t.c.rcache
	if rc == nil || rc.procCount.Load() == 0 || !t.singleThreaded() {
		return 0, false
	}
	desc, ok := t.c.ids.soleDescription(t.proc.pid, int32(args[0]))
	if !ok {
		return 0, false
	}
	count := args[2]
	rc.mu.Lock()
	pc := rc.procData[desc]
	if pc == nil || pc.read && pc.off == 0 || count == 0 || count > sysabi.MaxBuffer {
		// A read at 0 after the first takes the content again, and
		// one of nothing marks it used without moving the offset:
		// both are the server's (the forward forgets the content).
		rc.mu.Unlock()
		return 0, false
	}
	off, first := pc.off, !pc.read
	var chunk []byte
	if off < int64(len(pc.data)) {
		chunk = pc.data[off:min(int64(len(pc.data)), off+int64(count))]
	}
	rc.mu.Unlock()
	if len(chunk) > 0 {
		if err := t.copyOut(args[1], chunk); err != 0 {
			return 0, false // a fault: the server says what it makes of it
		}
	}
	if first || len(chunk) > 0 {
		// The server's read moves the offset and marks the content
		// used, as this one did; its bytes are not wanted.
		pc := newPostedCall(t.tid, unix.SYS_READ, args, nil).replyCanWait()
		if !t.postChange(pc, nil, "", 0, noChange, 0) {
			return 0, false
		}
	}
	rc.mu.Lock()
	if p := rc.procData[desc]; p != nil {
		p.off += int64(len(chunk))
		p.read = true
	}
	rc.mu.Unlock()
	rc.hits.Add(1)
	t.cached = true
	return uint64(len(chunk)), true
}

// dropProcDataBeforeForward forgets the /proc contents of the
// descriptions a call about to be forwarded names by fd
// (forEachNamedFD): the server may move their offset or take their
// content again.
func (t *task) dropProcDataBeforeForward(sysno uintptr, args [6]uint64) {
	rc := t.c.rcache
	if rc == nil || rc.procCount.Load() == 0 {
		return
	}
	forEachNamedFD(sysno, args, t.dropProcDataOf)
}

// dropProcDataOf forgets the /proc content of t's fd's description.
func (t *task) dropProcDataOf(fd int32) {
	rc := t.c.rcache
	if desc, ok := t.c.ids.descriptionOf(t.proc.pid, fd); ok {
		rc.mu.Lock()
		rc.dropProcDataLocked(desc)
		rc.mu.Unlock()
	}
}

// dropProcDataLocked forgets description desc's /proc content, if kept.
// Precondition: rc.mu.
func (rc *readCache) dropProcDataLocked(desc uint64) {
	if _, ok := rc.procData[desc]; ok {
		delete(rc.procData, desc)
		rc.procCount.Store(int32(len(rc.procData)))
	}
}
