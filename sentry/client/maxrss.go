package client

import (
	"sync/atomic"

	"gvisor.dev/gvisor/pkg/hostarch"
	"gvisor.dev/gvisor/pkg/sentry/mm"
)

// Peak resident set sizes (ru_maxrss, in KiB), as Linux's
// signal->maxrss and cmaxrss: a process's is the largest of its address
// spaces' peaks (the one it runs in, and those it left by exec), a
// forked child's starts at its copy's (what its parent had resident); its
// children's is the largest of its reaped children's own and children's,
// taken when a wait reaps one (accountReaped), so a zombie or a child
// reaped without a wait (SIGCHLD ignored) adds nothing. The memory
// manager counts the pages the client made resident; the host's own
// accounting of the stub processes is not consulted.

// noteMaxRSS folds the peak of m, an address space of p's that p may be
// about to leave, into p's.
func (p *process) noteMaxRSS(m *mm.MemoryManager) {
	atomicMax(&p.maxRSSKB, m.MaxResidentSetSize()/1024)
}

// selfMaxRSS is p's ru_maxrss: the peak of the address spaces it left and
// of those its live threads run in.
func (p *process) selfMaxRSS() uint64 {
	kb := p.maxRSSKB.Load()
	for _, t := range p.liveThreads() {
		t.mu.Lock()
		m := t.mm
		t.mu.Unlock()
		if m != nil {
			kb = max(kb, m.MaxResidentSetSize()/1024)
		}
	}
	return kb
}

// putRusageMaxRSS writes ru_maxrss (KiB) of the struct rusage at addr.
func (t *task) putRusageMaxRSS(addr, kb uint64) {
	var b [8]byte
	hostarch.ByteOrder.PutUint64(b[:], kb)
	t.copyOut(addr+32, b[:])
}

// atomicMax raises v to at least x.
func atomicMax(v *atomic.Uint64, x uint64) {
	for {
		old := v.Load()
		if old >= x || v.CompareAndSwap(old, x) {
			return
		}
	}
}
