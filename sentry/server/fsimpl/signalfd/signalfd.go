package signalfd

import (
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"
	"gvisor.dev/gvisor/pkg/usermem"

	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/fdesc"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/fsimpl/anon"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/wake"
)

// SiginfoSize is sizeof(struct signalfd_siginfo): the least a read
// takes.
const SiginfoSize = 128

// Unblockable are SIGKILL and SIGSTOP, which no signalfd reads.
const Unblockable = 1<<(linux.SIGKILL-1) | 1<<(linux.SIGSTOP-1)

// Reader answers a read of a signalfd: the server has the client
// dequeue the calling thread's pending signals in mask.
type Reader interface {
	// SignalfdRead has the client answer call c, a read of a signalfd
	// with mask, and returns the calling thread's id.
	SignalfdRead(c fdesc.Call, mask uint64, nonblock bool) int32
}

// File is a signalfd.
type File struct {
	anon.Base
	// reads answers its reads. Immutable.
	reads Reader
	// mu protects mask and changed. A leaf.
	mu sync.Mutex
	// mask is the set of signals the signalfd reads (bit n-1 is signal
	// n; never SIGKILL or SIGSTOP). Set by signalfd4 on an existing fd.
	mask uint64
	// changed is notified when mask changes, waking waits that watch
	// the file.
	changed wake.Notifier
	// reader is the thread that last read or waited on the signalfd: a
	// signal sent to its process is queued there (pending signals are
	// per thread on the client, Linux's are shared by the process).
	reader atomic.Int32
}

// New returns a description of a new signalfd reading mask (less
// SIGKILL and SIGSTOP), whose reads reads answers, with flags'
// O_NONBLOCK.
func New(reads Reader, mask uint64, flags uint32) *fdesc.File {
	sf := &File{Base: anon.NewBase(0600), reads: reads, mask: mask &^ Unblockable}
	return fdesc.NewFile(sf, nil, nil, unix.O_RDWR|flags&unix.O_NONBLOCK)
}

// Mask returns the signals the signalfd reads.
func (s *File) Mask() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.mask
}

// SetMask changes the signals the signalfd reads (less SIGKILL and
// SIGSTOP) and wakes the waits that watch it.
func (s *File) SetMask(mask uint64) {
	s.mu.Lock()
	s.mask = mask &^ Unblockable
	s.changed.Notify()
	s.mu.Unlock()
}

// LastReader returns the thread that last read or waited on the
// signalfd (0: none yet).
func (s *File) LastReader() int32 { return s.reader.Load() }

// ReadSeq answers a read with the Reader's answer: the signals are the
// client's to dequeue, and nothing is read here.
func (s *File) ReadSeq(c fdesc.Call, f *fdesc.File, dst usermem.IOSequence) (int64, error) {
	if dst.NumBytes() < SiginfoSize {
		return 0, unix.EINVAL
	}
	s.reader.Store(s.reads.SignalfdRead(c, s.Mask(), f.Nonblock()))
	return 0, nil
}

// WriteSeq is EINVAL.
func (s *File) WriteSeq(fdesc.Call, *fdesc.File, usermem.IOSequence) (int64, error) {
	return 0, unix.EINVAL
}

// Readiness is asked with no caller (a nested epoll, O_ASYNC): pending
// signals are per thread, so there is nothing to report.
func (s *File) Readiness(*fdesc.File) (uint32, <-chan struct{}) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return 0, s.changed.Wait()
}

// ReadinessFor is the signalfd's readiness for a wait of thread tid,
// whose pending signals on the client are pending: readable if they meet
// the mask, else a channel closed when the mask changes. The thread
// becomes the signalfd's reader.
func (s *File) ReadinessFor(tid int32, pending uint64) (uint32, <-chan struct{}) {
	s.reader.Store(tid)
	s.mu.Lock()
	defer s.mu.Unlock()
	if pending&s.mask != 0 {
		return linux.POLLIN | linux.POLLRDNORM, nil
	}
	return 0, s.changed.Wait()
}
