package kernel

import (
	"golang.org/x/sys/unix"

	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/fdesc"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/vfs"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/sysabi"
)

// FIFOs: a FIFO (mkfifo, mknod S_IFIFO) is a node in the gofer's tree;
// opening it gives a pipe end (pipe.go) of the pipe this client keeps for
// that node while any description has it open, keyed by the node's inode
// number. Processes of one client therefore meet at a FIFO; processes of
// two different clients (sandboxes) do not, even on one server.

// OpenFifo opens FIFO d with Linux's FIFO open rules: O_RDONLY waits for
// a writer and O_WRONLY for a reader (unless O_NONBLOCK: a reader then
// opens at once, a writer fails with ENXIO), O_RDWR never waits. A wait
// ends early, with ERESTARTSYS, when the call is interrupted.
func (c *Task) OpenFifo(d *vfs.Dentry, flags uint32) (*fdesc.File, error) {
	acc := flags & unix.O_ACCMODE
	nonblock := flags&unix.O_NONBLOCK != 0
	tab := &c.Kernel.Fifos
	p, err := tab.LockedGet(d.Ino(), d, c.Kernel.Mem, c.Kernel.Trk.TouchPipe, !(acc == unix.O_WRONLY && nonblock))
	if err != nil {
		tab.Unlock()
		return nil, err
	}
	if p == nil {
		tab.Unlock()
		return nil, unix.ENXIO
	}
	e := &PipeEnd{P: p, Reads: acc != unix.O_WRONLY, Writes: acc != unix.O_RDONLY}
	p.Lock()
	if acc == unix.O_WRONLY && nonblock && p.ReadersLocked() == 0 {
		p.Unlock()
		tab.Unlock()
		return nil, unix.ENXIO
	}
	e.P.AddEndLocked(e.Reads, e.Writes)
	// The partner opens counted before this one: a wait ends once
	// another one is made.
	ropens, wopens := p.OpensLocked()
	p.Unlock()
	tab.Unlock()
	c.Kernel.Trk.TouchPipe(p)
	f := vfs.NewFile(e, d, flags&sysabi.KeptOpenFlags)
	if acc == unix.O_RDWR || (acc == unix.O_RDONLY && nonblock) {
		return f, nil
	}
	for {
		p.Lock()
		r, w := p.OpensLocked()
		var ready bool
		if acc == unix.O_RDONLY {
			ready = p.WritersLocked() > 0 || w != wopens
		} else {
			ready = p.ReadersLocked() > 0 || r != ropens
		}
		if ready {
			p.Unlock()
			return f, nil
		}
		ch := p.ChangedLocked()
		p.Unlock()
		if err := c.Block(ch, nil); err != nil {
			f.DecRef()
			return nil, err
		}
	}
}
