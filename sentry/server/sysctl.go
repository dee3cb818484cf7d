package server

import (
	"math/bits"
	"sync"

	"golang.org/x/sys/unix"
)

// /proc/sys numbers the application may change, per client. They are not
// in the replay state: after a server failure they are back to their
// defaults (lease-break-time lives in leaseTable, likewise).

const (
	// defaultPipeMaxSize is Linux's fs/pipe-max-size.
	defaultPipeMaxSize = 1 << 20
	// pipeUserPagesSoft is Linux's fs/pipe-user-pages-soft (shown, not
	// enforced: a pipe is charged to no user here).
	pipeUserPagesSoft = 16384
	// maxPipeSize bounds F_SETPIPE_SZ even for root (Linux allows root up
	// to 2 GiB; the server holds the buffers of all its clients).
	maxPipeSize = 16 << 20
)

// sysctls are a client's writable /proc/sys numbers.
type sysctls struct {
	// mu protects pipeMaxSize. It is a leaf.
	mu sync.Mutex
	// pipeMaxSize is fs/pipe-max-size (0: the default).
	pipeMaxSize int
}

func (s *sysctls) pipeMaxSizeNow() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.pipeMaxSize == 0 {
		return defaultPipeMaxSize
	}
	return s.pipeMaxSize
}

// setPipeMaxSize sets fs/pipe-max-size as Linux does: rounded up to a
// power-of-two number of pages, at least one page; EINVAL above 2 GiB.
func (s *sysctls) setPipeMaxSize(v int) error {
	n, ok := roundPipeSize(int64(v))
	if !ok {
		return unix.EINVAL
	}
	s.mu.Lock()
	s.pipeMaxSize = n
	s.mu.Unlock()
	return nil
}

// roundPipeSize is Linux's round_pipe_size: a pipe size rounded up to a
// power-of-two number of pages (at least one); false above 2 GiB or for
// a negative size.
func roundPipeSize(size int64) (int, bool) {
	const pageSize = 4096
	if size < 0 || size > 1<<31 {
		return 0, false
	}
	if size < pageSize {
		return pageSize, true
	}
	return 1 << bits.Len64(uint64(size-1)), true
}
