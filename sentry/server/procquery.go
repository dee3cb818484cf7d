package server

import (
	"fmt"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
)

// procQueryTimeout bounds the wait for a ProcAnswer.
var procQueryTimeout = 2 * time.Second

// procQueries tracks ProcQuery pushes waiting for their answer.
type procQueries struct {
	// mu is a leaf lock; it protects the fields below.
	mu      sync.Mutex
	last    uint64
	waiting map[uint64]chan *sentrypb.ProcAnswer
}

// Ask pushes q and waits for the client's answer (kernel.Sender). It
// must not run on the session's receiving goroutine (which delivers the
// answer) nor hold kernel.Kernel.Mu. A client that does not answer in time
// gets EIO.
func (st *clientStream) Ask(q *sentrypb.ProcQuery) (*sentrypb.ProcAnswer, error) {
	ch := make(chan *sentrypb.ProcAnswer, 1)
	pq := &st.procQ
	pq.mu.Lock()
	pq.last++
	q.Id = pq.last
	if pq.waiting == nil {
		pq.waiting = make(map[uint64]chan *sentrypb.ProcAnswer)
	}
	pq.waiting[q.Id] = ch
	pq.mu.Unlock()
	defer func() {
		pq.mu.Lock()
		delete(pq.waiting, q.Id)
		pq.mu.Unlock()
	}()
	if err := st.sendMsg(&sentrypb.ServerMessage{Msg: &sentrypb.ServerMessage_Push{Push: &sentrypb.Push{Msg: &sentrypb.Push_ProcQuery{ProcQuery: q}}}}); err != nil {
		return nil, fmt.Errorf("ask the client (%v): %v: %w", q.Kind, err, unix.EIO)
	}
	tm := time.NewTimer(procQueryTimeout)
	defer tm.Stop()
	select {
	case a := <-ch:
		if a.Errno != 0 {
			return nil, fmt.Errorf("client answered %v: %w", q.Kind, unix.Errno(a.Errno))
		}
		return a, nil
	case <-tm.C:
		st.log.Warn("client did not answer a /proc query", "kind", q.Kind.String(), "pid", q.Pid)
		return nil, fmt.Errorf("no answer to %v within %v: %w", q.Kind, procQueryTimeout, unix.EIO)
	case <-st.done:
		return nil, fmt.Errorf("client gone: %w", unix.EIO)
	}
}

// procAnswer delivers a ProcAnswer (an unknown id is dropped: its query
// timed out).
func (st *clientStream) procAnswer(a *sentrypb.ProcAnswer) {
	st.procQ.mu.Lock()
	ch := st.procQ.waiting[a.Id]
	delete(st.procQ.waiting, a.Id)
	st.procQ.mu.Unlock()
	if ch != nil {
		ch <- a
	}
}
