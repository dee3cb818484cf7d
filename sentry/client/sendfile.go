package client

import (
	"bytes"
	"encoding/binary"

	"golang.org/x/sys/unix"

	"gvisor.dev/gvisor/pkg/hostarch"
	"gvisor.dev/gvisor/pkg/usermem"

	pb "github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/sysabi"
)

// Leased copies (docs/COMPATIBILITY.md, "Pipelined calls").
//
// sendfile(out, in, offp, count) and copy_file_range(in, offin, out,
// offout, count, 0) from a description the read cache answers reads of
// (readcache.go) to one a write to which may be written behind
// (writebehind.go) are answered here: the count is what the lease tells
// (count clipped at the file's size, the range within the leased
// bytes), in's offset moves in the client's copy as a cached read's
// does, and the call is posted carrying the bytes read from the lease
// (Syscall.leased_data). The server writes them to out instead of
// reading in, and moves in's offset past them (package
// sentry/server/copybehind).
//
// Why the bytes travel: the application is told the count before the
// server runs the call. Another client's change of in (a truncation, a
// rewrite) revokes the lease, but only once made, so it may land
// between the client's answer and the server's execution of a posted
// call that read in itself: the copy would then differ from what the
// application was told. With the bytes in the call, the copy is the
// lease's view at the moment of the call, which the native interleaving
// allows (the change came after it), and a recovery re-sends the same
// bytes. The cost is the bytes on the client-to-server hop (tar's
// members are small, and the server makes no read of in).
//
// A sendfile from such a description to a pipe's write end, the
// client's stdio or any regular file open for writing (cat's) whose in
// offset is at or past the leased size returns 0 here and is not sent:
// the server reads in before it looks at the pipe (a full pipe, or one
// without a reader, makes no difference at in's end). A copy of bytes
// to a pipe is posted the same way within the room the server granted
// the pipe's write end (pipebehind.go), and forwarded otherwise.
//
// An error of the write surfaces as a write behind's: kept on out's
// description for its next fsync, fdatasync, waited write or close.
//
// splice is not answered here: one of its ends is a pipe, whose write
// may block or take part of the bytes (the pipe's free space is the
// server's), and whose read takes bytes only the server holds.

// maxLeasedCopy bounds a leased copy: the server's copy chunk (it
// refuses more in one call).
const maxLeasedCopy = 4 << 20

// serverHas reports whether the current connection's server set feature
// in its Welcome.
func (s *remoteSession) serverHas(feature uint64) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.conn != nil && s.conn.Welcome.GetFeatures()&feature != 0
}

// copyArgs are a sendfile's or copy_file_range's arguments.
type copyArgs struct {
	in, out               int32
	inOffAddr, outOffAddr uint64
	count                 uint64
}

func parseCopyArgs(sysno uintptr, args [6]uint64) (copyArgs, bool) {
	switch sysno {
	case unix.SYS_SENDFILE:
		return copyArgs{out: int32(args[0]), in: int32(args[1]), inOffAddr: args[2], count: args[3]}, int64(args[3]) >= 0
	case unix.SYS_COPY_FILE_RANGE:
		return copyArgs{in: int32(args[0]), inOffAddr: args[1], out: int32(args[2]), outOffAddr: args[3], count: args[4]},
			args[5] == 0 && int64(args[4]) >= 0
	}
	return copyArgs{}, false
}

// offsetIn reads the offset at addr (0: none, -1) and checks that the
// application may also write it (the client writes the moved offset
// back); false leaves the call to the server (EFAULT, EINVAL).
func (t *task) offsetIn(addr uint64) (int64, bool) {
	if addr == 0 {
		return -1, true
	}
	var b [8]byte
	if _, err := t.mm.CopyIn(t.gctx, hostarch.Addr(addr), b[:], usermem.IOOpts{}); err != nil {
		return 0, false
	}
	// Writing the same bytes back changes nothing and proves the page
	// writable (the process has one thread: nothing races with it).
	if _, err := t.mm.CopyOut(t.gctx, hostarch.Addr(addr), b[:], usermem.IOOpts{}); err != nil {
		return 0, false
	}
	off := int64(binary.LittleEndian.Uint64(b[:]))
	return off, off >= 0
}

// copyMayLease says whether a lease of the in file that sendfile or
// copy_file_range (true for other calls) brings could answer the
// process's next copies: when they go to a file written behind, or,
// for sendfile, to a pipe, the stdio or another file, where the copy
// that finds in's end (cat's second sendfile of each file) is answered (a copy to a
// socket would have the server read each file twice for nothing).
func (t *task) copyMayLease(sysno uintptr, args [6]uint64) bool {
	ca, ok := parseCopyArgs(sysno, args)
	if !ok {
		return sysno != unix.SYS_SENDFILE && sysno != unix.SYS_COPY_FILE_RANGE
	}
	if _, out, ok := t.wbTarget(ca.out); ok {
		return out.flags&unix.O_APPEND == 0
	}
	return sysno == unix.SYS_SENDFILE && t.copyEndOut(ca.out)
}

// copyEndOut says whether fd of t's process is a pipe's write end, the
// client's stdio or a regular gofer file (not O_APPEND: EINVAL first)
// open for writing: the server's sendfile to it reads in first and
// returns 0 at in's end without writing.
func (t *task) copyEndOut(fd int32) bool {
	// wbTarget returns the record (zero if not known) whether or not
	// a write to it may be written behind (a file of do's overlay has
	// no gofer handle: it may not).
	_, f, _ := t.wbTarget(fd)
	return (f.streamOut || f.regular && f.flags&unix.O_APPEND == 0) &&
		f.flags&unix.O_ACCMODE != unix.O_RDONLY && f.flags&unix.O_PATH == 0
}

// leasedCopyBytes returns the bytes a leased copy carries (and the
// replay log retains as they are until they are durable, replaylog's
// writeData): data, a slice of a lease's whole bytes of length whole,
// when it is at least half of them (cp's copy of a whole file), else a
// copy of its own, so that a retained copy of a few bytes does not keep
// a large lease's bytes alive.
func leasedCopyBytes(data []byte, whole int) []byte {
	if 2*len(data) >= whole {
		return data
	}
	return bytes.Clone(data)
}

// leasedCopy answers sendfile or copy_file_range from the read cache and
// posts it (see above), if it may, and returns its count.
func (t *task) leasedCopy(sysno uintptr, args [6]uint64) (uint64, bool) {
	ca, ok := parseCopyArgs(sysno, args)
	if !ok || t.c.rcache == nil || !t.c.conn.serverHas(pb.FeatureLeasedCopy) || !t.singleThreaded() {
		// The copy's write is posted: a process with one thread.
		return 0, false
	}
	// cachedFile checks that no shared mapping is dirty.
	inDesc, in, ok := t.cachedFile(ca.in, ca.inOffAddr == 0)
	if !ok || in.flags&unix.O_ACCMODE != unix.O_RDONLY {
		return 0, false
	}
	outDesc, out, toFile := t.wbTarget(ca.out)
	// O_APPEND: sendfile's EINVAL, copy_file_range's EBADF. The same
	// file: its lease would not hold across the write.
	if toFile && (out.flags&unix.O_APPEND != 0 || out.handle == in.handle || in.ino != 0 && in.ino == out.ino) {
		return 0, false
	}
	if !toFile && !(sysno == unix.SYS_SENDFILE && t.copyEndOut(ca.out)) {
		return 0, false
	}
	// A copy of bytes into a pipe is posted within the pipe's room
	// (pipebehind.go).
	var pipeDesc uint64
	toPipe := false
	if !toFile && t.c.pipeRooms.any() {
		pipeDesc, toPipe = t.pipeWriteTarget(ca.out)
	}
	inOff, ok := t.offsetIn(ca.inOffAddr)
	if !ok {
		return 0, false
	}
	outOff, ok := t.offsetIn(ca.outOffAddr)
	if !ok {
		return 0, false
	}
	rc := t.c.rcache
	rc.mu.Lock()
	var f *leasedFile
	if inDesc, ok = rc.currentLocked(inDesc); ok { // a posted open's (postopen.go)
		f = rc.liveOfLocked(inDesc, false, in)
	}
	if f == nil {
		rc.mu.Unlock()
		return 0, false
	}
	if ca.inOffAddr == 0 {
		inOff = t.offsetLocked(inDesc)
	}
	var data []byte
	if uint64(inOff) < f.size && ca.count > 0 {
		end := min(uint64(inOff)+ca.count, f.size)
		if uint64(inOff) < f.dataOff || end > f.dataOff+uint64(len(f.data)) || end-uint64(inOff) > maxLeasedCopy {
			rc.mu.Unlock()
			return 0, false
		}
		data = leasedCopyBytes(f.data[uint64(inOff)-f.dataOff:end-f.dataOff], len(f.data))
	}
	n := uint64(len(data))
	if n == 0 {
		// At the end of in (or a count of 0): nothing moves, and
		// nothing is written (the server reads in first).
		rc.mu.Unlock()
		rc.hits.Add(1)
		t.cached = true
		return 0, true
	}
	if !toFile && (!toPipe || !t.c.pipeRooms.take(pipeDesc, n)) {
		// A write to a pipe may block or fail (no reader): its
		// free space is the server's, and it granted none.
		rc.mu.Unlock()
		return 0, false
	}
	if ca.inOffAddr == 0 {
		rc.seekPosted[inDesc]++
		rc.offsets[inDesc] = inOff + int64(n)
	}
	rc.mu.Unlock()
	seekDone := func() {
		if ca.inOffAddr != 0 {
			return
		}
		rc.mu.Lock()
		d := rc.movedLocked(inDesc)
		if rc.seekPosted[d]--; rc.seekPosted[d] <= 0 {
			delete(rc.seekPosted, d)
			delete(rc.offsets, d)
		}
		rc.mu.Unlock()
	}
	var outDone func(*pb.Reply)
	if toPipe {
		outDone = t.pipeWriteDone(pipeDesc, n)
	} else {
		outDone = t.wbBegin(outDesc, data)
	}
	done := func(r *pb.Reply) {
		outDone(r)
		seekDone()
	}
	inputs := sysabi.Inputs(sysno, args, appMemory{t})
	sc := &pb.Syscall{Sysno: int32(sysno), Args: args[:], Inputs: toPBRegions(inputs), LeasedData: data}
	posted := false
	if toPipe {
		// A pipe's write changes no file the read cache answers.
		posted = t.postChange(newPostedCallOf(t.tid, sc), done, "", 0, noChange, 0)
	} else {
		// Into a file written behind: nothing waits for its reply.
		sc.ReplyCanWait = true
		posted = t.postSyscall(sc, done, out.handle, out.ino, t.c.pipe.bornOf(outDesc, out.handle))
	}
	if !posted {
		done(nil)
		return 0, false
	}
	// The offsets were proven writable above.
	for _, p := range []struct {
		addr uint64
		off  int64
	}{{ca.inOffAddr, inOff}, {ca.outOffAddr, outOff}} {
		if p.addr != 0 {
			var b [8]byte
			binary.LittleEndian.PutUint64(b[:], uint64(p.off+int64(n)))
			if _, err := t.mm.CopyOut(t.gctx, hostarch.Addr(p.addr), b[:], usermem.IOOpts{}); err != nil {
				t.c.log.Warn("writing a leased copy's offset back failed", "syscall", sysName(sysno), "err", err)
			}
		}
	}
	return n, true
}
