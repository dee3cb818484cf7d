package devpts

import (
	"time"

	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"

	"github.com/runsc-decoupled/runsc-decoupled/proto/goferpb"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/fdesc"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/pty"
)

// Device numbers: /dev/ptmx is (5, PtmxMinor), /dev/pts/<n> (PtsMajor, n).
const (
	PtsMajor  = 136
	PtmxMinor = 2
)

// Kernel is what a terminal's end asks of the kernel.
type Kernel interface {
	// JobControlAccess applies the job control of the controlling
	// terminal of session sid, whose foreground group is fg, to call c,
	// a read (sig SIGTTIN) or a write with TOSTOP (SIGTTOU): nil to go
	// on, or the errno (EIO, ERESTARTSYS after signalling the caller's
	// group).
	JobControlAccess(c fdesc.Call, sid, fg int32, sig int) error
	// SignalGroup sends sigs to process group pgid.
	SignalGroup(pgid int32, sigs []linux.Signal)
}

// File is one end of a pseudo-terminal.
type File struct {
	fdesc.FileBase
	k      Kernel
	t      *pty.Terminal
	master bool
	// ino and dev are its inode and device numbers (the synthesized
	// /dev's).
	ino, dev uint64
}

// New returns the master (or slave) end of t, whose inode and device
// numbers are ino and dev, asking k for job control and signals.
func New(k Kernel, t *pty.Terminal, master bool, ino, dev uint64) *File {
	return &File{k: k, t: t, master: master, ino: ino, dev: dev}
}

// Terminal returns the terminal.
func (p *File) Terminal() *pty.Terminal { return p.t }

// Master says p is the master end.
func (p *File) Master() bool { return p.master }

// Stream is true: no offset.
func (p *File) Stream() bool { return true }

// Release closes the end.
func (p *File) Release() {
	if p.master {
		p.t.CloseMaster()
	} else {
		p.t.CloseSlave()
	}
}

// Stat is /dev/ptmx's or /dev/pts/<n>'s character device, its times
// now.
func (p *File) Stat(fdesc.Call) (*goferpb.Stat, error) {
	now := time.Now().UnixNano()
	st := &goferpb.Stat{Mode: unix.S_IFCHR | 0666, Nlink: 1, Ino: p.ino, Dev: p.dev, Rdev: 5<<8 | PtmxMinor,
		Blksize: 1024, AtimeNs: now, MtimeNs: now, CtimeNs: now}
	if !p.master {
		st.Mode, st.Rdev = unix.S_IFCHR|0620, unix.Mkdev(PtsMajor, uint32(p.t.Index))
	}
	return st, nil
}

// Readable is FIONREAD: the bytes a read would return now.
func (p *File) Readable() int {
	if p.master {
		return p.t.MasterReadable()
	}
	return p.t.SlaveReadable()
}

// Read reads up to n bytes, blocking until some are there unless
// non-blocking; a slave's read is subject to job control.
func (p *File) Read(c fdesc.Call, f *fdesc.File, n int, _ int64) ([]byte, error) {
	if !p.master && c != nil {
		// Job control: a background read.
		sid, fg := p.t.Session()
		if err := p.k.JobControlAccess(c, sid, fg, int(unix.SIGTTIN)); err != nil {
			return nil, err
		}
	}
	if n == 0 {
		return nil, nil
	}
	for {
		ch := p.t.Changed()
		var b []byte
		var err error
		if p.master {
			b, err = p.t.MasterRead(n)
		} else {
			b, err = p.t.SlaveRead(n)
		}
		if err != unix.EAGAIN || f.Nonblock() {
			return b, err
		}
		if err := c.Block(ch, nil); err != nil {
			return nil, err
		}
	}
}

// Write writes b, blocking while the terminal has no room unless
// non-blocking; a slave's write with TOSTOP is subject to job control,
// and the ISIG characters written to the master signal the foreground
// group.
func (p *File) Write(c fdesc.Call, f *fdesc.File, b []byte, _ int64) (int, error) {
	if !p.master && c != nil && pty.StopsWrites(p.t.Termios()) {
		// Job control: a background write with TOSTOP.
		sid, fg := p.t.Session()
		if err := p.k.JobControlAccess(c, sid, fg, int(unix.SIGTTOU)); err != nil {
			return 0, err
		}
	}
	done := 0
	for done < len(b) || len(b) == 0 {
		ch := p.t.Changed()
		var n int
		var sigs []linux.Signal
		var err error
		if p.master {
			n, sigs, err = p.t.MasterWrite(b[done:])
		} else {
			n, err = p.t.SlaveWrite(b[done:])
		}
		p.SignalForeground(sigs)
		done += n
		if len(b) == 0 || done == len(b) {
			break
		}
		if err == unix.EAGAIN && !f.Nonblock() {
			if err := c.Block(ch, nil); err != nil {
				if done > 0 {
					return done, nil
				}
				return 0, err
			}
			continue
		}
		if err != nil {
			if done > 0 && err == unix.EAGAIN {
				return done, nil
			}
			return done, err
		}
	}
	return done, nil
}

// SignalForeground sends sigs to the terminal's foreground process
// group, if it has one.
func (p *File) SignalForeground(sigs []linux.Signal) {
	if len(sigs) == 0 {
		return
	}
	if _, fg := p.t.Session(); fg != 0 {
		p.k.SignalGroup(fg, sigs)
	}
}

// Readiness returns the end's events now and a channel closed when they
// may have changed.
func (p *File) Readiness(*fdesc.File) (uint32, <-chan struct{}) {
	ch := p.t.Changed()
	r := p.t.SlaveReadiness()
	if p.master {
		r = p.t.MasterReadiness()
	}
	var ev uint32
	if r.In {
		ev |= linux.POLLIN | linux.POLLRDNORM
	}
	if r.Out {
		ev |= linux.POLLOUT | linux.POLLWRNORM
	}
	if r.Hup {
		ev |= linux.POLLHUP
	}
	return ev, ch
}
