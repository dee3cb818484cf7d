package kernel

import (
	"math/bits"
	"sync"

	"golang.org/x/sys/unix"
)

// DefaultPipeMaxSize is Linux's fs/pipe-max-size.
const DefaultPipeMaxSize = 1 << 20

// Sysctls are a client's writable /proc/sys numbers the kernel keeps
// itself (those of its subsystems' objects are theirs: lease-break-time
// is lease.Table's, the SysV limits sysvipc.Registry's). They are not in
// the replay state: after a server failure they are back to their
// defaults. The zero value holds the defaults.
type Sysctls struct {
	// mu protects pipeMaxSize and ipForward. It is a leaf.
	mu sync.Mutex
	// pipeMaxSize is fs/pipe-max-size (0: the default).
	pipeMaxSize int
	// ipForward is net/ipv4/ip_forward of the client's loopback stack.
	ipForward bool
}

// IPForward is net/ipv4/ip_forward: 0 or 1.
func (s *Sysctls) IPForward() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ipForward {
		return 1
	}
	return 0
}

// SetIPForward sets net/ipv4/ip_forward (the caller applies it to the
// client's network stack).
func (s *Sysctls) SetIPForward(on bool) {
	s.mu.Lock()
	s.ipForward = on
	s.mu.Unlock()
}

// PipeMaxSize is fs/pipe-max-size.
func (s *Sysctls) PipeMaxSize() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.pipeMaxSize == 0 {
		return DefaultPipeMaxSize
	}
	return s.pipeMaxSize
}

// SetPipeMaxSize sets fs/pipe-max-size as Linux does: rounded up to a
// power-of-two number of pages, at least one page; EINVAL above 2 GiB.
func (s *Sysctls) SetPipeMaxSize(v int) error {
	n, ok := RoundPipeSize(int64(v))
	if !ok {
		return unix.EINVAL
	}
	s.mu.Lock()
	s.pipeMaxSize = n
	s.mu.Unlock()
	return nil
}

// RoundPipeSize is Linux's round_pipe_size: a pipe size rounded up to a
// power-of-two number of pages (at least one); false above 2 GiB or for
// a negative size.
func RoundPipeSize(size int64) (int, bool) {
	const pageSize = 4096
	if size < 0 || size > 1<<31 {
		return 0, false
	}
	if size < pageSize {
		return pageSize, true
	}
	return 1 << bits.Len64(uint64(size-1)), true
}
