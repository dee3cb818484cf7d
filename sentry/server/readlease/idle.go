package readlease

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/wake"
)

// Idle leases: the promise that nothing an epoll instance watches is
// ready, kept until one of the readiness channels the grant took closes
// (sentry/server's idlelease.go takes them: each watched file's, and the
// instance's own for a change of its interests). They share the holder's
// ids, epochs and revocations with its read leases, and the registry
// tracks nothing of them: no change of a file waits for them.
//
// A watched file's change closes its channel during the call that makes
// it. PollIdle, which the server's glue runs before it takes the
// revocations for any message to the client, finds it closed and queues
// the lease's revocation as the holder's own: it reaches the client
// before, or with, the reply of that call and of every later one. A
// watcher per lease queues it too, for a change no message follows soon
// (the kick's timer then sends it), and ends the lease at its expiry.

// idleLeases are a holder's idle leases (Holder.idle).
type idleLeases struct {
	// live counts the leases in byID, read without mu to skip PollIdle's
	// lock when there is none. Atomic.
	live atomic.Int32
	// mu protects byID and byKey. A leaf: taken without Holder.mu, and
	// Holder.mu is taken after it is released.
	mu   sync.Mutex
	byID map[uint64]*idleLease
	// byKey maps what a lease is of (an epoll instance) to its lease:
	// a new grant on it ends the one before, which the client replaced.
	byKey map[any]uint64
}

// maxIdleLeases bounds a holder's idle leases: beyond, grants fail.
const maxIdleLeases = 1024

// idleLease is one idle lease: what it is of, the readiness channels
// whose closing ends it, and stop, closed when it ends (its watcher
// returns).
type idleLease struct {
	key  any
	chs  []<-chan struct{}
	stop chan struct{}
}

// GrantIdle grants an idle lease of key (an epoll instance) that holds
// until one of chs closes or ttl passes, and returns its id and the
// holder's epoch (ok false: the holder takes no grants now or holds
// maxIdleLeases, or one of chs is closed already). The lease of key
// granted before is revoked first (the client asked again because it
// could not use it; it drops it before it takes the new grant, which
// comes with or after that revocation).
func (h *Holder) GrantIdle(key any, chs []<-chan struct{}, ttl time.Duration) (id, epoch uint64, ok bool) {
	if closedAny(chs) {
		return 0, 0, false
	}
	il := &h.idle
	il.mu.Lock()
	old, had := il.byKey[key]
	had = had && il.endLocked(old)
	il.mu.Unlock()
	if had {
		h.revokeIdle([]uint64{old}, false)
	}
	r := h.reg
	now := r.clock()
	r.mu.Lock()
	r.nextID++
	id = r.nextID
	r.mu.Unlock()
	h.mu.Lock()
	if h.disabled || now.Before(h.pausedUntil) {
		h.mu.Unlock()
		return 0, 0, false
	}
	epoch = h.epoch
	h.mu.Unlock()
	l := &idleLease{key: key, chs: chs, stop: make(chan struct{})}
	il.mu.Lock()
	if len(il.byID) >= maxIdleLeases {
		il.mu.Unlock()
		return 0, 0, false
	}
	// Another grant of key since the revocation above: it ends too, and
	// its revocation, numbered above this grant, makes the client drop
	// this one as well (a race of two threads' waits; rare).
	prev, raced := il.byKey[key]
	raced = raced && il.endLocked(prev)
	if il.byID == nil {
		il.byID, il.byKey = make(map[uint64]*idleLease), make(map[any]uint64)
	}
	il.byID[id] = l
	il.byKey[key] = id
	il.live.Add(1)
	il.mu.Unlock()
	if raced {
		h.revokeIdle([]uint64{prev}, false)
	}
	go h.watchIdle(id, l, ttl)
	return id, epoch, true
}

// watchIdle ends idle lease id of h when one of its channels closes (a
// revocation) or ttl passes (none: the client stops using it by then).
func (h *Holder) watchIdle(id uint64, l *idleLease, ttl time.Duration) {
	expiry := time.NewTimer(ttl)
	defer expiry.Stop()
	select {
	case <-wake.Merge(l.chs, l.stop):
		if h.endIdle(id) {
			h.revokeIdle([]uint64{id}, true)
		}
	case <-expiry.C:
		h.endIdle(id)
	case <-l.stop:
	}
}

// endIdle forgets idle lease id and stops its watcher; it reports
// whether the lease was live (the caller that ended it revokes it).
func (h *Holder) endIdle(id uint64) bool {
	il := &h.idle
	il.mu.Lock()
	defer il.mu.Unlock()
	return il.endLocked(id)
}

// endLocked is endIdle. Precondition: il.mu.
func (il *idleLeases) endLocked(id uint64) bool {
	l := il.byID[id]
	if l == nil {
		return false
	}
	delete(il.byID, id)
	if il.byKey[l.key] == id {
		delete(il.byKey, l.key)
	}
	il.live.Add(-1)
	close(l.stop)
	return true
}

// PollIdle revokes, as the holder's own, the idle leases one of whose
// channels closed: the caller, about to take the revocations for a
// message to the client, sends them before it. Cheap when h holds none.
func (h *Holder) PollIdle() {
	il := &h.idle
	if il.live.Load() == 0 {
		return
	}
	var ids []uint64
	il.mu.Lock()
	for id, l := range il.byID {
		if closedAny(l.chs) {
			il.endLocked(id)
			ids = append(ids, id)
		}
	}
	il.mu.Unlock()
	if len(ids) > 0 {
		h.revokeIdle(ids, false)
	}
}

// revokeIdle queues the revocation of idle leases ids as the holder's
// own (nothing waits for its acknowledgment); kick sends it (the
// watcher's: no message may follow soon; PollIdle's caller takes it
// itself).
func (h *Holder) revokeIdle(ids []uint64, kick bool) {
	h.mu.Lock()
	h.epoch++
	h.queued = append(h.queued, ids...)
	h.mu.Unlock()
	if kick && h.kick != nil {
		h.kick(false)
	}
}

// closeIdle ends every idle lease of h without a revocation (Close).
func (h *Holder) closeIdle() {
	il := &h.idle
	il.mu.Lock()
	defer il.mu.Unlock()
	for id := range il.byID {
		il.endLocked(id)
	}
}

// IdleCount is the number of idle leases h holds (tests).
func (h *Holder) IdleCount() int { return int(h.idle.live.Load()) }

// closedAny says whether one of chs is closed (a nil one never is).
func closedAny(chs []<-chan struct{}) bool {
	for _, ch := range chs {
		if ch == nil {
			continue
		}
		select {
		case <-ch:
			return true
		default:
		}
	}
	return false
}
