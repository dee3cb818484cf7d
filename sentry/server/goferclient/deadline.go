package goferclient

import (
	"context"
	"sync"
	"time"
)

// CallDeadlines hands out the contexts that bound gofer calls: each ends
// between d and d+step after it was handed out, or with parent. The
// calls begun within step of one another share one context, and so one
// timer: a context.WithTimeout per call set and stopped a runtime timer
// and registered and removed a child of the client's context (under its
// lock, which every thread of the client takes) for each gofer call, 4
// of an open+close's allocations. The bound is what keeps a gofer that
// no longer answers (or an outage that does not end) from holding a
// call for ever; a call channel or the stream fails at once when the
// gofer dies, so d is long and its precision does not matter.
type CallDeadlines struct {
	parent  context.Context
	d, step time.Duration

	// mu protects cur, its deadline end and its cancel; the contexts
	// handed out before cur end by their deadline (or parent).
	mu     sync.Mutex
	cur    context.Context
	end    time.Time
	cancel context.CancelFunc
}

// NewCallDeadlines returns the deadlines of calls under parent that end
// d (to d+step) after they begin.
func NewCallDeadlines(parent context.Context, d, step time.Duration) *CallDeadlines {
	return &CallDeadlines{parent: parent, d: d, step: step}
}

// Context returns the context of a call that begins now.
func (cd *CallDeadlines) Context() context.Context {
	now := time.Now()
	cd.mu.Lock()
	defer cd.mu.Unlock()
	if cd.cur == nil || cd.end.Sub(now) < cd.d {
		cd.end = now.Add(cd.d + cd.step)
		cd.cur, cd.cancel = context.WithDeadline(cd.parent, cd.end)
	}
	return cd.cur
}

// Stop ends the current context (the others end by their deadline, or
// with parent).
func (cd *CallDeadlines) Stop() {
	cd.mu.Lock()
	defer cd.mu.Unlock()
	if cd.cancel != nil {
		cd.cancel()
		cd.cur, cd.cancel = nil, nil
	}
}
