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
// a file's bytes is in flight (remoteSession.postedChangesInFlight) a
// fault sends a PageRead as before.
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

// postedChangesInFlight says whether a posted call that may change a
// file's bytes awaits its reply.
func (s *remoteSession) postedChangesInFlight() bool {
	s.imu.Lock()
	defer s.imu.Unlock()
	return s.postedChanges > 0
}

// changesFileBytes says whether posted call c may change the bytes of a
// file: every call but those known not to (a close, umask, the
// attribute changes, an open that does not truncate, mkdir and unlink;
// and the calls that are not system calls: a FileRelease, a kept plan's
// mmap). A pipelined close follows most mmaps (ld.so's), and must not
// send their faults to the server.
func changesFileBytes(c *pb.Call) bool {
	sc := c.GetSyscall()
	if sc == nil {
		return false
	}
	switch uintptr(sc.Sysno) {
	case unix.SYS_CLOSE, unix.SYS_UMASK, unix.SYS_CHMOD, unix.SYS_FCHMOD, unix.SYS_FCHMODAT,
		unix.SYS_CHOWN, unix.SYS_FCHOWN, unix.SYS_LCHOWN, unix.SYS_FCHOWNAT, unix.SYS_UTIMENSAT,
		unix.SYS_MKDIR, unix.SYS_MKDIRAT, unix.SYS_UNLINK, unix.SYS_UNLINKAT:
		return false
	case unix.SYS_OPEN:
		return len(sc.Args) < 2 || sc.Args[1]&unix.O_TRUNC != 0
	case unix.SYS_OPENAT:
		return len(sc.Args) < 3 || sc.Args[2]&unix.O_TRUNC != 0
	}
	return true
}

// wantHostFDLocked says whether f's next PageRead asks for a host fd.
// Precondition: f.mu is held.
func (f *serverFile) wantHostFDLocked() bool {
	return f.fc.mappedFDs && !f.askedFD && f.hostFD < 0 && f.fc.heldFDs.Load() < maxMappedFDs
}

// adoptHostFDLocked makes fd, which the server lent with a PageRead's
// reply, f's host fd, if it is a regular file open for reading; else it
// is closed. Precondition: f.mu is held.
func (f *serverFile) adoptHostFDLocked(fd int) bool {
	fl, err := unix.FcntlInt(uintptr(fd), unix.F_GETFL, 0)
	var st unix.Stat_t
	if err == nil {
		err = unix.Fstat(fd, &st)
	}
	if err != nil || fl&unix.O_ACCMODE != unix.O_RDONLY || st.Mode&unix.S_IFMT != unix.S_IFREG {
		f.fc.c.log.Warn("a lent host fd of a mapped file is not a read-only regular file: dropped", "file", f.name, "id", f.id, "err", err)
		unix.Close(fd)
		return false
	}
	if f.hostFD >= 0 {
		unix.Close(f.hostFD)
		f.fc.heldFDs.Add(-1)
	}
	f.hostFD = fd
	f.fc.heldFDs.Add(1)
	f.fc.hostFDs.Add(1)
	return true
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
