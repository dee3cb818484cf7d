package server

import (
	"sync"

	"golang.org/x/sys/unix"

	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/memacct"
)

// FIFOs: a FIFO (mkfifo, mknod S_IFIFO) is a node in the gofer's tree;
// opening it gives a pipe end (pipe.go) of the pipe this client keeps for
// that node while any description has it open, keyed by the node's inode
// number. Processes of one client therefore meet at a FIFO; processes of
// two different clients (sandboxes) do not, even on one server.

// fifoTable holds the pipes of the FIFOs a client has open.
type fifoTable struct {
	// mu protects byIno. It is taken before pipe.mu.
	mu    sync.Mutex
	byIno map[uint64]*pipe
}

// lockedGet returns the pipe of FIFO d, made (charged to acct) if create
// and none is open, with tab.mu held; the caller unlocks it. err is
// ENOMEM when acct has no room for a new pipe.
func (tab *fifoTable) lockedGet(d *dentry, trk *stateTracker, acct *memacct.Account, create bool) (*pipe, error) {
	tab.mu.Lock()
	p := tab.byIno[d.ino]
	if p == nil && create {
		p = &pipe{ino: pipeIno.Add(1), trk: trk, fifo: d, fifos: tab}
		if err := p.reserve(acct); err != nil {
			return nil, err
		}
		if tab.byIno == nil {
			tab.byIno = make(map[uint64]*pipe)
		}
		tab.byIno[d.ino] = p
	}
	return p, nil
}

// dropIfUnused forgets p once no description has it open (its last end
// was released), so that the next open starts an empty pipe as on Linux.
func (tab *fifoTable) dropIfUnused(p *pipe) {
	tab.mu.Lock()
	defer tab.mu.Unlock()
	p.mu.Lock()
	unused := p.readers+p.writers == 0
	p.mu.Unlock()
	if unused && tab.byIno[p.fifo.ino] == p {
		delete(tab.byIno, p.fifo.ino)
		p.unreserve()
	}
}

// openFifo opens FIFO d with Linux's FIFO open rules: O_RDONLY waits for
// a writer and O_WRONLY for a reader (unless O_NONBLOCK: a reader then
// opens at once, a writer fails with ENXIO), O_RDWR never waits. A wait
// ends early, with ERESTARTSYS, when the call is interrupted.
func (c *syscallCtx) openFifo(d *dentry, flags uint32) (*file, error) {
	acc := flags & unix.O_ACCMODE
	nonblock := flags&unix.O_NONBLOCK != 0
	tab := &c.k.fifos
	p, err := tab.lockedGet(d, c.k.trk, c.k.mem, !(acc == unix.O_WRONLY && nonblock))
	if err != nil {
		tab.mu.Unlock()
		return nil, err
	}
	if p == nil {
		tab.mu.Unlock()
		return nil, unix.ENXIO
	}
	e := &pipeEnd{p: p, reads: acc != unix.O_WRONLY, writes: acc != unix.O_RDONLY}
	p.mu.Lock()
	if acc == unix.O_WRONLY && nonblock && p.readers == 0 {
		p.mu.Unlock()
		tab.mu.Unlock()
		return nil, unix.ENXIO
	}
	e.addEndLocked()
	// The partner opens counted before this one: a wait ends once
	// another one is made.
	ropens, wopens := p.ropens, p.wopens
	p.mu.Unlock()
	tab.mu.Unlock()
	p.trk.touch(p)
	f := newFile(e, d, flags&keptOpenFlags)
	if acc == unix.O_RDWR || (acc == unix.O_RDONLY && nonblock) {
		return f, nil
	}
	for {
		p.mu.Lock()
		var ready bool
		if acc == unix.O_RDONLY {
			ready = p.writers > 0 || p.wopens != wopens
		} else {
			ready = p.readers > 0 || p.ropens != ropens
		}
		if ready {
			p.mu.Unlock()
			return f, nil
		}
		ch := p.changed.Wait()
		p.mu.Unlock()
		if err := c.block(ch, nil); err != nil {
			f.DecRef()
			return nil, err
		}
	}
}

// restoreFifo registers restored pipe p as the pipe of the FIFO at path,
// if path names one, and returns its dentry (nil for a pipe(2) pipe).
func (k *clientState) restoreFifo(rc *syscallCtx, p *pipe, path string) *dentry {
	if rc == nil || path == "" || p.fifo != nil {
		return p.fifo
	}
	d, err := k.vfs.resolve(rc, k.vfs.root, path, false)
	if err != nil || d.kind != dkGofer || d.mode&unix.S_IFMT != unix.S_IFIFO {
		return nil
	}
	tab := &k.fifos
	tab.mu.Lock()
	defer tab.mu.Unlock()
	if tab.byIno[d.ino] == nil {
		if tab.byIno == nil {
			tab.byIno = make(map[uint64]*pipe)
		}
		tab.byIno[d.ino] = p
		p.fifo, p.fifos = d, tab
	}
	return d
}
