package eventfd

import (
	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/usermem"

	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/fdesc"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/fsimpl/anon"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/kobj"
)

// File is an eventfd.
type File struct {
	anon.Base
	e *kobj.Eventfd
}

// New returns a description of a new eventfd whose counter is init, a
// semaphore if sem, with flags' O_NONBLOCK.
func New(init uint64, sem bool, flags uint32) (*fdesc.File, error) {
	ev, err := kobj.NewEventfd(init, sem)
	if err != nil {
		return nil, err
	}
	return fdesc.NewFile(&File{Base: anon.NewBase(0600), e: ev}, nil, nil, unix.O_RDWR|flags&unix.O_NONBLOCK), nil
}

// State returns the counter and whether it is a semaphore (the replay
// record).
func (e *File) State() (count uint64, semaphore bool) { return e.e.Count(), e.e.Semaphore() }

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
	n, err := anon.BlockOn(c, f, e.e.Watch, false, func() (int64, error) { return e.e.Read(dst) })
	if err == nil {
		f.Changed()
	}
	return n, err
}

// WriteSeq adds src's value to the counter, blocking until it fits.
func (e *File) WriteSeq(c fdesc.Call, f *fdesc.File, src usermem.IOSequence) (int64, error) {
	n, err := anon.BlockOn(c, f, e.e.Watch, false, func() (int64, error) { return e.e.Write(src) })
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
