package client

import (
	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/hostarch"
	"gvisor.dev/gvisor/pkg/sentry/memmap"

	pb "github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
)

// Mapped fds (docs/ARCHITECTURE.md, "Mapped fds"): with a server on this
// machine (the framed wire on a Unix socket), the first PageRead of a
// file asks for a host fd of it instead of its bytes (PageRead.want_fd).
// A server that lends one (an operator peer, a file whose gofer handle
// has a read-only donated fd: sentry/server's mappedfd.go) sends it with
// the reply (Reply.host_fd), and the file's faults then read its pages
// with pread into the cache: no round trip, and one copy instead of the
// gofer read's, the reply's encoding and decoding, and the cache's.
//
// The fd is read-only and only ever read with pread. Its reads see what
// a PageRead at that moment would, the host file as the server's
// changes left it, with one exception the client guards against: a
// PageRead runs on the server after the client's posted calls sent
// before it (a write behind the application saw return), and a read of
// the fd does not wait for them; so while a posted call that may change
// the file's bytes is in flight (client.postedChangeTo: a write to it, or
// to a file the client cannot tell apart) a fault sends a PageRead as
// before.
//
// The fd stays the file's (the serverFile's, whose pages are of its
// inode) across recoveries, since it names the inode, not the server's
// id; it is closed with the file's pages (releasePages). A read of it
// that fails (EIO) drops it: the file's faults go back to PageReads.

// maxMappedFDs bounds the host fds the client holds for mapped files at
// once: beyond it, files are read with PageReads.
const maxMappedFDs = 256

// onHostFD keeps fd, which rode with the reply of call seq, until the
// caller claims it (takeHostFD). It runs on the receiving goroutine.
func (s *remoteSession) onHostFD(seq uint64, fd int) {
	s.imu.Lock()
	defer s.imu.Unlock()
	if old, ok := s.hostFDs[seq]; ok {
		unix.Close(old)
	}
	if s.hostFDs == nil {
		s.hostFDs = make(map[uint64]int)
	}
	s.hostFDs[seq] = fd
}

// takeHostFD returns the fd that came with the reply of call seq, which
// the caller then owns, or -1.
func (s *remoteSession) takeHostFD(seq uint64) int {
	s.imu.Lock()
	defer s.imu.Unlock()
	fd, ok := s.hostFDs[seq]
	if !ok {
		return -1
	}
	delete(s.hostFDs, seq)
	return fd
}

// postedChangeTo says whether a posted call that may change the bytes
// of mapped file id awaits its reply. The read cache counts each posted
// data change by the gofer handle of its file (readCache.postBegin); the
// mapped file's is its "map/<id>" record's. Without either (no read
// cache, a file mapped from a kept plan whose record went), any posted
// call that may change a file's bytes counts.
func (c *client) postedChangeTo(id uint64) bool {
	if !c.conn.postedChangesInFlight() {
		return false
	}
	h := c.pipe.mappedHandle(id)
	if h == "" || c.rcache == nil {
		return true
	}
	return c.rcache.dataPostedTo(h)
}

// mappedHandle is the gofer handle of mapped file id ("": not known).
func (ps *pipelineState) mappedHandle(id uint64) string {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	return ps.mapped[id].handle
}

// dataPostedTo says whether a posted data change to the file of gofer
// handle h may await its reply.
func (rc *readCache) dataPostedTo(h string) bool {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return rc.dataPostedToLocked(rc.aliasLocked(h), 0, 0)
}

// postedChangesInFlight says whether a posted call that may change a
// file's bytes awaits its reply.
func (s *remoteSession) postedChangesInFlight() bool {
	s.imu.Lock()
	defer s.imu.Unlock()
	return s.postedChanges > 0
}

// changesFileBytes says whether posted call c may change the bytes of a
// file: the writes the client posts (readCache's changesFile data
// changes), and those that could if ever posted (a truncation, an
// allocation, a splice, an open that truncates). Not a close, which
// follows most mmaps (ld.so's) and must not send their faults to the
// server, nor the other posted calls (umask, attributes, lseek, mkdir,
// unlink, exit_group; a FileRelease, a kept plan's mmap).
func changesFileBytes(c *pb.Call) bool {
	sc := c.GetSyscall()
	if sc == nil {
		return false
	}
	switch uintptr(sc.Sysno) {
	case unix.SYS_WRITE, unix.SYS_PWRITE64, unix.SYS_WRITEV, unix.SYS_PWRITEV, unix.SYS_PWRITEV2,
		unix.SYS_SENDFILE, unix.SYS_COPY_FILE_RANGE, unix.SYS_SPLICE,
		unix.SYS_FTRUNCATE, unix.SYS_TRUNCATE, unix.SYS_FALLOCATE:
		return true
	case unix.SYS_OPEN, unix.SYS_CREAT:
		return sc.Sysno == unix.SYS_CREAT || len(sc.Args) < 2 || sc.Args[1]&unix.O_TRUNC != 0
	case unix.SYS_OPENAT:
		return len(sc.Args) < 3 || sc.Args[2]&unix.O_TRUNC != 0
	}
	return false
}

// wantHostFDLocked says whether f's next PageRead asks for a host fd.
// Precondition: f.mu is held.
func (f *serverFile) wantHostFDLocked() bool {
	return f.fc.mappedFDs && !f.askedFD && f.hostFD < 0 && f.fc.heldFDs.Load() < maxMappedFDs
}

// adoptHostFDLocked makes fd, which the server lent with a PageRead's
// reply, f's host fd, if it is a regular file open for reading; else it
// is closed. Precondition: f.mu is held.
func (f *serverFile) adoptHostFDLocked(fd int) {
	fl, err := unix.FcntlInt(uintptr(fd), unix.F_GETFL, 0)
	var st unix.Stat_t
	if err == nil {
		err = unix.Fstat(fd, &st)
	}
	if err != nil || fl&unix.O_ACCMODE != unix.O_RDONLY || st.Mode&unix.S_IFMT != unix.S_IFREG {
		f.fc.c.log.Warn("a lent host fd of a mapped file is not a read-only regular file: dropped", "file", f.name, "id", f.id, "err", err)
		unix.Close(fd)
		return
	}
	f.dropHostFDLocked()
	f.hostFD = fd
	f.fc.heldFDs.Add(1)
	f.fc.hostFDs.Add(1)
}

// dropHostFDLocked closes f's host fd, if any. Precondition: f.mu is
// held.
func (f *serverFile) dropHostFDLocked() {
	if f.hostFD < 0 {
		return
	}
	unix.Close(f.hostFD)
	f.hostFD = -1
	f.fc.heldFDs.Add(-1)
}

// readHostLocked reads [off, off+length) of the file from its host fd
// into the cache and returns how many bytes came (fewer at the end of
// the file). Precondition: f.mu is held and f.hostFD >= 0.
func (f *serverFile) readHostLocked(off, length uint64) (uint64, error) {
	var got uint64
	eof := false
	err := f.piecesLocked(off, off+length, func(src memmap.MappableRange, fr memmap.FileRange) error {
		if eof {
			return nil
		}
		if fillByFD.Load() {
			want := int(src.Length())
			n, err := spliceIn(f.hostFD, int64(src.Start), f.fc.c.mf.FD(), int64(fr.Start), want)
			got += uint64(n)
			switch {
			case err == nil:
				eof = n < want
				return nil
			case n == 0 && (err == unix.EINVAL || err == unix.ENOSYS):
				// Not offered for this file or memory file: pread
				// from now on.
				fillByFD.Store(false)
				f.fc.c.log.Debug("splice of a mapped file's host fd refused; pread instead", "file", f.name, "err", err)
			default:
				return err
			}
		}
		bs, err := f.fc.c.mf.MapInternal(fr, hostarch.Write)
		if err != nil {
			return err
		}
		populate(bs)
		pos := src.Start
		for ; !bs.IsEmpty() && !eof; bs = bs.Tail() {
			b := bs.Head()
			done := 0
			for done < b.Len() {
				n, _, errno := unix.Syscall6(unix.SYS_PREAD64, uintptr(f.hostFD), b.Addr()+uintptr(done), uintptr(b.Len()-done), uintptr(pos), 0, 0)
				if errno == unix.EINTR {
					continue
				}
				if errno != 0 {
					return errno
				}
				if n == 0 {
					eof = true
					break
				}
				done += int(n)
				pos += uint64(n)
				got += uint64(n)
			}
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	f.fc.hostReads.Add(1)
	f.fc.hostReadBytes.Add(got)
	return got, nil
}
