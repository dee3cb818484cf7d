package server

import (
	"context"
	"sync"
	"time"

	"github.com/runsc-decoupled/runsc-decoupled/proto/goferpb"
)

// Gofer handles a client no longer needs (a closed file's, an evicted
// dentry's) are released in batches, off the path of the call that
// dropped them: a close costs no gofer round trip. A batch goes once
// releaseBatch handles are queued, or releaseDelay after the first of
// them was; the client's teardown sends what is left at once. A handle
// waiting here still holds its file open in the gofer (an unlinked file's
// silly-renamed name goes up to releaseDelay later); releaseBatch bounds
// how many do.
const releaseBatch = 64

// releaseDelay is a variable for tests.
var releaseDelay = 20 * time.Millisecond

// releaseQueue is a client's queue of handles to release.
type releaseQueue struct {
	// mu protects the fields below. It is a leaf lock.
	mu      sync.Mutex
	pending []uint64
	// timer is set while a delayed flush is scheduled.
	timer *time.Timer
}

// releaseHandles releases gofer handles (see releaseQueue), outliving the
// client's context.
func releaseHandles(k *clientState, hs []uint64) {
	if len(hs) == 0 {
		return
	}
	q := &k.releases
	q.mu.Lock()
	q.pending = append(q.pending, hs...)
	if len(q.pending) < releaseBatch {
		if q.timer == nil {
			q.timer = time.AfterFunc(releaseDelay, func() { k.flushReleases() })
		}
		q.mu.Unlock()
		return
	}
	batch := q.takeLocked()
	q.mu.Unlock()
	go releaseNow(k, batch)
}

// takeLocked empties the queue. Precondition: q.mu.
func (q *releaseQueue) takeLocked() []uint64 {
	batch := q.pending
	q.pending = nil
	if q.timer != nil {
		q.timer.Stop()
		q.timer = nil
	}
	return batch
}

// flushReleases releases every queued handle now.
func (k *clientState) flushReleases() {
	k.releases.mu.Lock()
	batch := k.releases.takeLocked()
	k.releases.mu.Unlock()
	releaseNow(k, batch)
}

// releaseNow releases hs with Release RPCs of at most 1024 handles.
func releaseNow(k *clientState, hs []uint64) {
	for len(hs) > 0 {
		n := min(len(hs), 1024)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		if _, err := k.gofer.Release(ctx, &goferpb.ReleaseRequest{Handles: hs[:n]}); err != nil {
			k.log.Debug("gofer release failed", "err", err)
		}
		cancel()
		hs = hs[n:]
	}
}
