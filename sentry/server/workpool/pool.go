package workpool

import (
	"sync/atomic"
	"time"
)

// Pool runs functions on goroutines that outlive them: a thread's
// forwarded calls mostly come one at a time (the application thread waits
// for each reply), so a goroutine started per call paid for a fresh stack
// growing again through the syscall path every time (16 % of the server's
// CPU in a file-heavy profile). A worker that finishes waits idleAfter for
// more work before it exits, so idle clients keep no goroutines.
type Pool struct {
	// work hands a function to an idle worker (unbuffered: a send
	// succeeds only when one waits). Immutable.
	work chan func()
	// idleAfter is how long a worker waits for work. Immutable.
	idleAfter time.Duration
	// started counts the goroutines started, idle those waiting for
	// work (tests).
	started, idle atomic.Int64
}

// DefaultIdle is how long a worker of the server's pool waits for more
// work before it exits.
const DefaultIdle = 2 * time.Second

// New returns a pool whose workers exit after idleAfter without work.
func New(idleAfter time.Duration) *Pool {
	return &Pool{work: make(chan func()), idleAfter: idleAfter}
}

// Go runs f on an idle worker, or on a new one if none is idle.
func (p *Pool) Go(f func()) {
	select {
	case p.work <- f:
	default:
		p.started.Add(1)
		go p.worker(f)
	}
}

// Started is the number of goroutines the pool started (tests: a call
// run where it arrived starts none).
func (p *Pool) Started() int64 { return p.started.Load() }

func (p *Pool) worker(f func()) {
	t := time.NewTimer(p.idleAfter)
	defer t.Stop()
	for {
		f()
		f = nil
		t.Reset(p.idleAfter)
		p.idle.Add(1)
		select {
		case f = <-p.work:
			p.idle.Add(-1)
		case <-t.C:
			p.idle.Add(-1)
			return
		}
	}
}
