package client

import (
	"golang.org/x/sys/unix"

	pb "github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
)

// Lent fds (docs/ARCHITECTURE.md, "Lent fds"): a read lease carries the
// file's bytes only in a window (the whole file when small; an open's
// lease of a larger file its first 16 KiB), and a read beyond it used to
// wait for the server, which answered with a new window of 256 KiB: a
// linker's scattered 4 KiB reads of an archive or a shared library, each
// a round trip and a quarter megabyte copied four times into fresh
// memory. With mapped fds on (a server on this machine), the first such
// read of a file asks the server for a host fd of it instead (LendFD:
// lent on the conditions of a mapped file's, for a description open for
// reading alone), and the reads the lease answers beyond its window are
// then pread from that fd by the client.
//
// The fd is read only while the lease holds: under rc.mu, as the
// window's bytes are, so a revocation (which takes rc.mu) is acknowledged
// after a read in progress, and nothing is read once the lease is gone.
// Its bytes are the host file's: what the server's read would return,
// since a change by another client revokes the lease before it returns,
// and a posted change of this client's makes liveLocked answer nothing of
// the file meanwhile. A read that comes back short of what the lease's
// size promises (the file is being changed) or fails is left to the
// server. The fds are kept by gofer file handle (which names the inode,
// across leases of the same file) up to maxLentFDs, the least recently
// read closed first; a recovery closes them all (the next server's files
// are its own).

// maxLentFDs bounds the host fds the read cache holds.
const maxLentFDs = 64

// lentFD is a host fd the server lent for a file's leased reads; used is
// readCache.lentTick at its last read. Protected by readCache.mu.
type lentFD struct {
	fd   int
	used uint64
}

// readLentLocked reads n bytes at off of the file of gofer handle h
// through its lent fd, if the cache holds one and the read returns them
// all. Precondition: rc.mu.
func (rc *readCache) readLentLocked(h string, off, n uint64) ([]byte, bool) {
	l := rc.lent[h]
	if l == nil {
		return nil, false
	}
	rc.lentTick++
	l.used = rc.lentTick
	buf := make([]byte, n)
	got, err := unix.Pread(l.fd, buf, int64(off))
	if err != nil {
		// The server answers the file's reads from now on.
		unix.Close(l.fd)
		delete(rc.lent, h)
		return nil, false
	}
	if uint64(got) != n {
		return nil, false
	}
	rc.lentReads.Add(1)
	rc.lentReadBytes.Add(n)
	return buf, true
}

// adoptLentLocked keeps fd as the lent fd of gofer handle h, closing the
// least recently read one if the cache holds maxLentFDs. Precondition:
// rc.mu.
func (rc *readCache) adoptLentLocked(h string, fd int) {
	if old := rc.lent[h]; old != nil {
		unix.Close(old.fd)
		delete(rc.lent, h) // replaced: it takes no other file's place
	}
	if len(rc.lent) >= maxLentFDs {
		var oldest string
		var min uint64
		for k, l := range rc.lent {
			if oldest == "" || l.used < min {
				oldest, min = k, l.used
			}
		}
		unix.Close(rc.lent[oldest].fd)
		delete(rc.lent, oldest)
	}
	rc.lentTick++
	rc.lent[h] = &lentFD{fd: fd, used: rc.lentTick}
	rc.lentFDs.Add(1)
}

// closeLentLocked closes every lent fd and forgets which files were asked
// (a recovery). Precondition: rc.mu.
func (rc *readCache) closeLentLocked() {
	for _, l := range rc.lent {
		unix.Close(l.fd)
	}
	clear(rc.lent)
	clear(rc.lentAsked)
	rc.lentRefused = false
}

// maxLentAsks bounds the times the client asks for a lent fd of one
// file between recoveries: a refusal (EBADF: the server saw another
// description at the fd; EINVAL: not a file it lends) may not repeat.
const maxLentAsks = 2

// askLentFD asks the server for a host fd of the file of gofer handle h
// that t's fd reads through description desc (the server's id, not a
// posted open's provisional one, which the server does not know yet),
// and reports whether the cache now holds one.
func (t *task) askLentFD(fd int32, desc uint64, h string) bool {
	rc := t.c.rcache
	if !t.c.files.mappedFDs || h == "" || desc&provisionalDesc != 0 {
		return false
	}
	rc.mu.Lock()
	if rc.lentRefused || rc.lentAsked[h] >= maxLentAsks || rc.lent[h] != nil {
		rc.mu.Unlock()
		return false
	}
	rc.lentAsked[h]++
	gen := rc.gen
	rc.mu.Unlock()
	reply, err := t.c.conn.Call(t.c.ctx, &pb.Call{Tid: t.tid, Op: &pb.Call_LendFd{LendFd: &pb.LendFD{Fd: fd, File: desc}}})
	if err != nil {
		return false
	}
	if !reply.HostFd {
		if unix.Errno(reply.Errno) == unix.EOPNOTSUPP {
			rc.mu.Lock()
			rc.lentRefused = rc.gen == gen
			rc.mu.Unlock()
		}
		return false
	}
	hfd := t.c.conn.takeHostFD(reply.Seq)
	if hfd < 0 {
		return false
	}
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if rc.gen != gen {
		unix.Close(hfd) // a recovery came between
		return false
	}
	rc.adoptLentLocked(h, hfd)
	return true
}

// lentCounts returns the fds lent, the reads made through them and
// their bytes (for the end-of-session log line).
func (rc *readCache) lentCounts() (fds, reads, bytes uint64) {
	if rc == nil {
		return 0, 0, 0
	}
	return rc.lentFDs.Load(), rc.lentReads.Load(), rc.lentReadBytes.Load()
}
