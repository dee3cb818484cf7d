package eventfd

import (
	"sync"

	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/usermem"

	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/fdesc"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/fsimpl/anon"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/kobj"
)

// File is an eventfd.
//
// Its replay record is the counter as the calls whose replies were built
// left it (CommitLocked), not as it is: another thread's message may be
// built between a write and its reply, and a write re-sent after its
// reply was lost must not add twice. What answered reads took beyond
// what answered writes added (a read answered before the write it read)
// is owed: a restored eventfd drops it from its next writes (the write
// re-sent).
type File struct {
	anon.Base
	e *kobj.Eventfd

	// mu protects the fields below; it nests outside kobj.Eventfd.mu.
	mu sync.Mutex
	// count is the counter as answered calls left it, owed what their
	// reads took beyond it; drop is what the next writes drop (a
	// restored eventfd's debt).
	count, owed, drop uint64
}

// CountRecorder is the call an eventfd's counter changes in:
// RecordEventfd notes v added (added) to the counter of e (description
// f) or taken from it, which the caller commits (CommitLocked) when its
// reply is built, and reports whether it will. A call that is not one
// (the server's own) commits at once.
type CountRecorder interface {
	RecordEventfd(e *File, f *fdesc.File, added bool, v uint64) bool
}

// New returns a description of a new eventfd whose counter is init, a
// semaphore if sem, with flags' O_NONBLOCK.
func New(init uint64, sem bool, flags uint32) (*fdesc.File, error) {
	return Restore(init, 0, sem, flags)
}

// Restore is New for an eventfd whose record (State) said count and
// owed: its next writes drop owed.
func Restore(count, owed uint64, sem bool, flags uint32) (*fdesc.File, error) {
	ev, err := kobj.NewEventfd(count, sem)
	if err != nil {
		return nil, err
	}
	e := &File{Base: anon.NewBase(0600), e: ev, count: count, owed: owed, drop: owed}
	return fdesc.NewFile(e, nil, nil, unix.O_RDWR|flags&unix.O_NONBLOCK), nil
}

// State returns the counter as answered calls left it, what their reads
// took beyond it, and whether it is a semaphore (the replay record).
func (e *File) State() (count, owed uint64, semaphore bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.count, e.owed, e.e.Semaphore()
}

// CommitLocked commits v added to the counter (added) or taken from it
// by a call whose reply is being built: State reports it from now on.
// Precondition: e.mu is held.
func (e *File) CommitLocked(added bool, v uint64) {
	if added {
		d := min(e.owed, v)
		e.owed -= d
		e.count += v - d
		return
	}
	d := min(e.count, v)
	e.count -= d
	e.owed += v - d
}

// Commit is CommitLocked taking e.mu.
func (e *File) Commit(added bool, v uint64) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.CommitLocked(added, v)
}

// record notes v added or taken by call c on description f.
// Precondition: e.mu is held.
func (e *File) record(c fdesc.Call, f *fdesc.File, added bool, v uint64) {
	if r, ok := c.(CountRecorder); ok && r.RecordEventfd(e, f, added, v) {
		return
	}
	e.CommitLocked(added, v)
}

// Read and Write serve callers that have bytes rather than application
// buffers (none of the I/O calls: they use ReadSeq and WriteSeq).
func (e *File) Read(c fdesc.Call, f *fdesc.File, n int, _ int64) ([]byte, error) {
	b := make([]byte, n)
	m, err := e.ReadSeq(c, f, usermem.BytesIOSequence(b))
	return b[:m], err
}

// Write adds b's 8 bytes to the counter.
func (e *File) Write(c fdesc.Call, f *fdesc.File, b []byte, _ int64) (int, error) {
	n, err := e.WriteSeq(c, f, usermem.BytesIOSequence(b))
	return int(n), err
}

// ReadSeq takes the counter (or one, for a semaphore) into dst, blocking
// until it is not zero.
func (e *File) ReadSeq(c fdesc.Call, f *fdesc.File, dst usermem.IOSequence) (int64, error) {
	if dst.NumBytes() < 8 {
		return 0, unix.EINVAL
	}
	n, err := anon.BlockOn(c, f, e.e.Watch, false, func() (int64, error) {
		e.mu.Lock()
		defer e.mu.Unlock()
		n, taken, err := e.e.Read(dst)
		if err == nil {
			e.record(c, f, false, taken)
		}
		return n, err
	})
	if err == nil {
		f.Changed()
	}
	return n, err
}

// WriteSeq adds src's value to the counter, blocking until it fits.
func (e *File) WriteSeq(c fdesc.Call, f *fdesc.File, src usermem.IOSequence) (int64, error) {
	n, err := anon.BlockOn(c, f, e.e.Watch, false, func() (int64, error) {
		e.mu.Lock()
		defer e.mu.Unlock()
		var drop *uint64
		if e.drop > 0 {
			drop = &e.drop
		}
		n, v, err := e.e.Write(src, drop)
		if err == nil {
			e.record(c, f, true, v)
		}
		return n, err
	})
	if err == nil {
		f.Changed()
	}
	return n, err
}

// Readiness returns the events ready now and a channel closed when they
// may have changed.
func (e *File) Readiness(*fdesc.File) (uint32, <-chan struct{}) {
	ch := e.e.Watch.Changed()
	return e.e.Readiness(), ch
}

// Release frees the eventfd.
func (e *File) Release() { e.e.Release() }
