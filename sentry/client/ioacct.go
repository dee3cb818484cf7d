package client

import (
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// Read and write accounting (Linux's task_io_accounting, which
// /proc/<pid>/io shows): the bytes the read-family calls returned and
// the write-family calls took, and how many such calls a thread made.
// The client sees every call the application makes, those it serves
// itself and those it forwards, so it keeps them: per thread, and per
// process for its exited threads and reaped children (as Linux's
// signal->ioac, which a wait adds a reaped child's totals to).
//
// As Linux's vfs_read and vfs_write: read, readv, pread64, preadv and
// preadv2 count in rchar and syscr, their write twins in wchar and
// syscw, sendfile and copy_file_range in both; recvmsg and sendmsg and
// their kin do not (Linux counts a socket's I/O only through read and
// write). A call counts unless it failed with EBADF (Linux counts
// neither a call refused before the file's read or write is reached,
// by its EINVAL and EFAULT checks too: those few are counted here).

// ioAcct is one thread's or process's counts. Atomic.
type ioAcct struct {
	rchar, wchar, syscr, syscw atomic.Uint64
}

// ioCounts are rchar, wchar, syscr and syscw.
type ioCounts [4]uint64

// counts reads a.
func (a *ioAcct) counts() ioCounts {
	return ioCounts{a.rchar.Load(), a.wchar.Load(), a.syscr.Load(), a.syscw.Load()}
}

// add adds c to a.
func (a *ioAcct) add(c ioCounts) {
	a.rchar.Add(c[0])
	a.wchar.Add(c[1])
	a.syscr.Add(c[2])
	a.syscw.Add(c[3])
}

// account counts system call sysno, which returned ret or failed with
// errno.
func (a *ioAcct) account(sysno uintptr, ret uint64, errno unix.Errno) {
	var read, write bool
	switch sysno {
	case unix.SYS_READ, unix.SYS_READV, unix.SYS_PREAD64, unix.SYS_PREADV, unix.SYS_PREADV2:
		read = true
	case unix.SYS_WRITE, unix.SYS_WRITEV, unix.SYS_PWRITE64, unix.SYS_PWRITEV, unix.SYS_PWRITEV2:
		write = true
	case unix.SYS_SENDFILE, unix.SYS_COPY_FILE_RANGE:
		read, write = true, true
	default:
		return
	}
	if errno == unix.EBADF {
		return
	}
	n := uint64(0)
	if errno == 0 && int64(ret) > 0 {
		n = ret
	}
	if read {
		a.syscr.Add(1)
		a.rchar.Add(n)
	}
	if write {
		a.syscw.Add(1)
		a.wchar.Add(n)
	}
}

// ioCounts is the process's accounting: its live threads', its exited
// threads' and its reaped children's.
func (p *process) ioCounts() ioCounts {
	c := p.retiredIO.counts()
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, t := range p.threads {
		tc := t.io.counts()
		for i := range c {
			c[i] += tc[i]
		}
	}
	return c
}
