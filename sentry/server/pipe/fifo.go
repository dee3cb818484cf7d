package pipe

import (
	"sync"

	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/memacct"
)

// FIFOTable holds the pipes of the FIFOs a client has open, keyed by the
// node's inode number, so that the opens of one FIFO meet at one pipe
// while any description has it open.
type FIFOTable[N comparable] struct {
	// mu protects byIno and the pipes' fifo fields. It is taken before
	// a pipe's mu.
	mu    sync.Mutex
	byIno map[uint64]*Pipe[N]
}

// LockedGet returns the pipe of FIFO node (inode ino), made (charged to
// acct, with replay hook onChange) if create and none is open, with the
// table's mu held (also on error); the caller calls Unlock. err is
// ENOMEM when acct has no room for a new pipe.
func (tab *FIFOTable[N]) LockedGet(ino uint64, node N, acct *memacct.Account, onChange func(*Pipe[N]), create bool) (*Pipe[N], error) {
	tab.mu.Lock()
	p := tab.byIno[ino]
	if p == nil && create {
		p = &Pipe[N]{ino: NewIno(), onChange: onChange, fifo: node, fifos: tab, fifoIno: ino}
		if err := p.reserve(acct); err != nil {
			return nil, err
		}
		if tab.byIno == nil {
			tab.byIno = make(map[uint64]*Pipe[N])
		}
		tab.byIno[ino] = p
	}
	return p, nil
}

// Unlock drops the mu LockedGet left held.
func (tab *FIFOTable[N]) Unlock() { tab.mu.Unlock() }

// Register makes restored pipe p the pipe of FIFO node (inode ino)
// unless the FIFO has one already or p belongs to a FIFO.
func (tab *FIFOTable[N]) Register(p *Pipe[N], ino uint64, node N) {
	tab.mu.Lock()
	defer tab.mu.Unlock()
	if tab.byIno[ino] != nil || p.fifos != nil {
		return
	}
	if tab.byIno == nil {
		tab.byIno = make(map[uint64]*Pipe[N])
	}
	tab.byIno[ino] = p
	p.fifo, p.fifos, p.fifoIno = node, tab, ino
}

// dropIfUnused forgets p once no description has it open (its last end
// was released), so that the next open starts an empty pipe as on Linux.
func (tab *FIFOTable[N]) dropIfUnused(p *Pipe[N]) {
	tab.mu.Lock()
	defer tab.mu.Unlock()
	p.mu.Lock()
	unused := p.readers+p.writers == 0
	p.mu.Unlock()
	if unused && tab.byIno[p.fifoIno] == p {
		delete(tab.byIno, p.fifoIno)
		p.unreserve()
	}
}
