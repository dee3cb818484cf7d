package client

import (
	"sync"
	"time"
)

// Lease renewal (docs/ARCHITECTURE.md, "The client's read cache",
// Renewal).
//
// A read or path lease is granted for a TTL counted from when the call
// that brought it was sent. The server renews every lease of the client
// it has not revoked when a heartbeat of the client arrives, and says so
// in its answer (Heartbeat.renewed_unix_nanos), sent after every
// revocation it decided before: so once that answer is handled, every
// lease the client holds unrevoked lives until a TTL after the heartbeat
// was sent (no later than the server's renewal), but never longer than
// its life after its grant (lease_life_ms, which bounds how long a change
// the server does not see stays unseen). The heartbeats go every 100 ms
// whatever the application does, so a lease lapses only when a
// heartbeat's round trip takes most of a TTL, not when a busy machine
// delays the application's next use of it by more than a TTL.

// leaseRenewal is what the server's renewals tell: until when every
// lease the client holds unrevoked lives. Shared by the read and path
// caches; mu is a leaf lock.
type leaseRenewal struct {
	mu sync.Mutex
	// until is a TTL after the latest renewed heartbeat was sent; life
	// is a lease's longest life, ttl its TTL, as the server told.
	// resetAt is the last recovery: a renewal of a heartbeat sent before
	// it is the dead server's. Protected by mu.
	until     time.Time
	ttl, life time.Duration
	resetAt   time.Time
}

// renewed records a renewal at the arrival of the heartbeat sent at sent
// (transport.Options.OnLeaseRenewed: the receiving goroutine, in order
// with the revocations).
func (lr *leaseRenewal) renewed(sent time.Time, ttl, life time.Duration) {
	if lr == nil || ttl <= 0 {
		return
	}
	lr.mu.Lock()
	defer lr.mu.Unlock()
	if sent.Before(lr.resetAt) {
		return
	}
	if u := sent.Add(ttl); u.After(lr.until) {
		lr.until = u
	}
	lr.ttl, lr.life = ttl, max(life, ttl)
}

// reset forgets the renewals (a recovery: the new server granted
// nothing, and the dead one's renewals are void).
func (lr *leaseRenewal) reset() {
	if lr == nil {
		return
	}
	lr.mu.Lock()
	defer lr.mu.Unlock()
	lr.until = time.Time{}
	lr.resetAt = time.Now()
}

// live says whether an unrevoked lease the client was told expires at
// expires (its grant's TTL) still holds at now: before expires, or
// before the latest renewal's end and its life's (counted from expires,
// which is no later than the server's grant plus a TTL).
func (lr *leaseRenewal) live(expires, now time.Time) bool {
	if now.Before(expires) {
		return true
	}
	if lr == nil {
		return false
	}
	lr.mu.Lock()
	defer lr.mu.Unlock()
	return now.Before(lr.until) && now.Before(expires.Add(lr.life-lr.ttl))
}
