package kobj

import (
	"encoding/binary"
	"math"
	"sync"

	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"
	"gvisor.dev/gvisor/pkg/sentry/fsimpl/eventfd"
	"gvisor.dev/gvisor/pkg/sentry/vfs"
	"gvisor.dev/gvisor/pkg/usermem"
	"gvisor.dev/gvisor/pkg/waiter"
)

// Eventfd is an eventfd: gVisor's fsimpl/eventfd file description, and
// the counter's value as the calls that went through it left it (gVisor
// keeps the counter private; recovery needs it).
type Eventfd struct {
	fd    *vfs.FileDescription
	Watch *Watch
	sem   bool

	// mu serializes reads and writes so that count follows the
	// object's counter exactly.
	mu sync.Mutex
	// count is the counter's value. Protected by mu.
	count uint64
}

// NewEventfd creates an eventfd with counter init (EFD_SEMAPHORE
// semantics if sem). The description is always non-blocking inside:
// blocking is the server's, so that it stays interruptible.
func NewEventfd(init uint64, sem bool) (*Eventfd, error) {
	v, err := VFS()
	if err != nil {
		return nil, err
	}
	fd, err := eventfd.New(Ctx(), v, init, sem, linux.O_RDWR|linux.O_NONBLOCK)
	if err != nil {
		return nil, Errno(err)
	}
	return &Eventfd{fd: fd, Watch: NewWatch(fd), sem: sem, count: init}, nil
}

// Semaphore reports EFD_SEMAPHORE mode.
func (e *Eventfd) Semaphore() bool { return e.sem }

// Count returns the counter's value.
func (e *Eventfd) Count() uint64 {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.count
}

// Read reads the counter into dst (EAGAIN when it is zero) and returns
// what it took from the counter.
func (e *Eventfd) Read(dst usermem.IOSequence) (n int64, taken uint64, err error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	n, err = e.fd.Read(Ctx(), dst, vfs.ReadOptions{})
	if err != nil {
		return n, 0, Errno(err)
	}
	taken = e.count
	if e.sem {
		taken = 1
	}
	e.count -= taken
	return n, taken, nil
}

// Write adds the 8-byte value in src to the counter (EAGAIN when it
// would overflow), less what it takes of *drop (a value to drop from
// the next writes), and returns the value in src.
func (e *Eventfd) Write(src usermem.IOSequence, drop *uint64) (n int64, v uint64, err error) {
	if src.NumBytes() != 8 {
		return 0, 0, unix.EINVAL
	}
	var b [8]byte
	if _, err := src.CopyIn(Ctx(), b[:]); err != nil {
		return 0, 0, Errno(err)
	}
	v = binary.LittleEndian.Uint64(b[:])
	if v == math.MaxUint64 {
		return 0, 0, unix.EINVAL
	}
	var d uint64
	if drop != nil {
		d = min(*drop, v)
		binary.LittleEndian.PutUint64(b[:], v-d)
		src = usermem.BytesIOSequence(b[:])
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	n, err = e.fd.Write(Ctx(), src, vfs.WriteOptions{})
	if err != nil {
		return n, 0, Errno(err)
	}
	e.count += v - d
	if drop != nil {
		*drop -= d
	}
	return n, v, nil
}

// Readiness returns the events ready now.
func (e *Eventfd) Readiness() uint32 {
	return uint32(e.fd.Readiness(waiter.AllEvents))
}

// Release frees the object.
func (e *Eventfd) Release() {
	e.Watch.Stop()
	e.fd.DecRef(Ctx())
}
