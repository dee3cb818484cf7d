package client

import (
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// Reads of a lent host fd by splice (mappedfd.go). A fault's pages move
// from the host file into the cache's memory file with splice(2) through
// a pipe: the kernel hands the file's page-cache pages to the pipe and
// copies them into memory-file pages it allocates as it writes. A pread
// into the memory file's internal mapping first had to commit those pages
// in the client's own address space (MADV_POPULATE_WRITE, else a fault a
// page) although the client never reads them: ~5.7 ms per 4 MiB in a
// virtual machine against ~0.7 ms (docs/BENCHMARKS.md, "hostsplice").
// The application's mapping of the pages is the platform's and does not
// need the client's.

const (
	// maxSplicePipes bounds the pipes kept between reads; a read beyond
	// them makes one and closes it after.
	maxSplicePipes = 4
	// splicePipeSize is the capacity asked of each pipe (F_SETPIPE_SZ;
	// the default 64 KiB if refused): a 4 MiB read is then 4 round
	// trips through it.
	splicePipeSize = 1 << 20
)

// splicePipes are the pipes kept for reads by splice, shared by every
// client of the process.
var splicePipes struct {
	mu   sync.Mutex
	free [][2]int
}

// fillByFD says whether the cache is filled through the memory file's fd:
// host fd reads by splice, copies into the cache (copyInLocked) by pwrite;
// off once the host refuses a splice (a file system without splice_read),
// and both then go through the client's mapping as before.
var fillByFD atomic.Bool

func init() { fillByFD.Store(true) }

// getSplicePipe returns a kept pipe, or a new one.
func getSplicePipe() ([2]int, error) {
	splicePipes.mu.Lock()
	if n := len(splicePipes.free); n > 0 {
		p := splicePipes.free[n-1]
		splicePipes.free = splicePipes.free[:n-1]
		splicePipes.mu.Unlock()
		return p, nil
	}
	splicePipes.mu.Unlock()
	var p [2]int
	if err := unix.Pipe2(p[:], unix.O_CLOEXEC); err != nil {
		return p, err
	}
	// Refused beyond /proc/sys/fs/pipe-max-size without CAP_SYS_RESOURCE:
	// the default capacity only costs more round trips.
	unix.FcntlInt(uintptr(p[1]), unix.F_SETPIPE_SZ, splicePipeSize)
	return p, nil
}

// putSplicePipe keeps p, which must be empty, or closes it.
func putSplicePipe(p [2]int) {
	splicePipes.mu.Lock()
	if len(splicePipes.free) < maxSplicePipes {
		splicePipes.free = append(splicePipes.free, p)
		splicePipes.mu.Unlock()
		return
	}
	splicePipes.mu.Unlock()
	closeSplicePipe(p)
}

func closeSplicePipe(p [2]int) {
	unix.Close(p[0])
	unix.Close(p[1])
}

// spliceIn moves n bytes of host file fd at off into memory file mfd at
// dst and returns how many moved: fewer at the end of the file. A pipe
// that an error leaves holding bytes is closed, not kept.
func spliceIn(fd int, off int64, mfd int, dst int64, n int) (int, error) {
	p, err := getSplicePipe()
	if err != nil {
		return 0, err
	}
	moved := 0
	for moved < n {
		in := off + int64(moved)
		k, err := unix.Splice(fd, &in, p[1], nil, min(n-moved, splicePipeSize), unix.SPLICE_F_MOVE)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			putSplicePipe(p) // nothing entered it
			return moved, err
		}
		if k == 0 {
			break // end of file
		}
		for k > 0 {
			out := dst + int64(moved)
			w, err := unix.Splice(p[0], nil, mfd, &out, int(k), unix.SPLICE_F_MOVE)
			if err == unix.EINTR {
				continue
			}
			if err == nil && w == 0 {
				err = unix.EIO
			}
			if err != nil {
				closeSplicePipe(p)
				return moved, err
			}
			k -= w
			moved += int(w)
		}
	}
	putSplicePipe(p)
	return moved, nil
}

// pwriteFull writes b to fd at off, all of it unless an error stops it,
// and returns how much was written.
func pwriteFull(fd int, b []byte, off int64) (int, error) {
	done := 0
	for done < len(b) {
		n, err := unix.Pwrite(fd, b[done:], off+int64(done))
		if err == unix.EINTR {
			continue
		}
		if err == nil && n == 0 {
			err = unix.EIO
		}
		if err != nil {
			return done, err
		}
		done += n
	}
	return done, nil
}
