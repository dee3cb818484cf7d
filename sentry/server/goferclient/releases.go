package goferclient

import (
	"context"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/runsc-decoupled/runsc-decoupled/proto/goferpb"
)

// Gofer handles a client no longer needs (a closed file's, an evicted
// dentry's) are released in batches, off the path of the call that
// dropped them: a close costs no gofer round trip. A batch goes once
// releaseBatch handles are queued, or the queue's delay after the first
// of them was; the client's teardown sends what is left at once. A handle
// waiting here still holds its file open in the gofer (an unlinked file's
// silly-renamed name goes up to the delay later); releaseBatch bounds how
// many do.
const releaseBatch = 64

// ReleaseQueue is a client's queue of gofer handles to release.
type ReleaseQueue struct {
	// gofer, log and delay are immutable.
	gofer goferpb.GoferClient
	log   hclog.Logger
	delay time.Duration

	// mu protects the fields below. It is a leaf lock.
	mu      sync.Mutex
	pending []uint64
	// timer is set while a delayed flush is scheduled.
	timer *time.Timer
}

// NewReleaseQueue returns a queue that releases handles of gofer in
// batches, at the latest delay after the first handle of a batch was
// queued.
func NewReleaseQueue(gofer goferpb.GoferClient, log hclog.Logger, delay time.Duration) *ReleaseQueue {
	return &ReleaseQueue{gofer: gofer, log: log, delay: delay}
}

// Release queues gofer handles for release; they are released outliving
// the client's context.
func (q *ReleaseQueue) Release(hs []uint64) {
	if len(hs) == 0 {
		return
	}
	q.mu.Lock()
	q.pending = append(q.pending, hs...)
	if len(q.pending) < releaseBatch {
		if q.timer == nil {
			q.timer = time.AfterFunc(q.delay, q.Flush)
		}
		q.mu.Unlock()
		return
	}
	batch := q.takeLocked()
	q.mu.Unlock()
	go q.ReleaseNow(batch)
}

// takeLocked empties the queue. Precondition: q.mu.
func (q *ReleaseQueue) takeLocked() []uint64 {
	batch := q.pending
	q.pending = nil
	if q.timer != nil {
		q.timer.Stop()
		q.timer = nil
	}
	return batch
}

// Flush releases every queued handle now.
func (q *ReleaseQueue) Flush() { q.FlushWith(nil) }

// FlushWith releases hs and every queued handle now (a client's
// teardown).
func (q *ReleaseQueue) FlushWith(hs []uint64) {
	q.mu.Lock()
	hs = append(hs, q.takeLocked()...)
	q.mu.Unlock()
	q.ReleaseNow(hs)
}

// ReleaseNow releases hs at once, with Release RPCs of at most 1024
// handles, bypassing the queue.
func (q *ReleaseQueue) ReleaseNow(hs []uint64) {
	for len(hs) > 0 {
		n := min(len(hs), 1024)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		if _, err := q.gofer.Release(ctx, &goferpb.ReleaseRequest{Handles: hs[:n]}); err != nil {
			q.log.Debug("gofer release failed", "err", err)
		}
		cancel()
		hs = hs[n:]
	}
}
