package server

import (
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// DefaultMaxClientMemory is the default Config.MaxClientMemory: 8192
// pipes' worth.
const DefaultMaxClientMemory = 512 << 20

// memAccount bounds the memory the server holds for one client's kernel
// objects that buffer data (pipes, by their capacity), so that one client
// cannot make the server hold unbounded memory with objects that each
// stay within their own limits. An object reserves its bound when made
// (the call making it fails with ENOMEM beyond the client's limit) and
// returns it when it is gone. Safe for concurrent use; no lock.
type memAccount struct {
	// limit is the most the client may hold, in bytes. Immutable.
	limit int64
	// used is what the client's objects hold now.
	used atomic.Int64
}

// charge reserves n bytes, or fails with ENOMEM if that would exceed the
// limit.
func (a *memAccount) charge(n int64) error {
	for {
		u := a.used.Load()
		if u+n > a.limit {
			return unix.ENOMEM
		}
		if a.used.CompareAndSwap(u, u+n) {
			return nil
		}
	}
}

// force reserves n bytes whatever the limit: for state a Restore rebuilds,
// which the client already held on its previous server under the same
// limit.
func (a *memAccount) force(n int64) { a.used.Add(n) }

// release returns n bytes.
func (a *memAccount) release(n int64) { a.used.Add(-n) }

// sysvMemory is a memAccount as sysvipc.Memory (SysV message queues).
type sysvMemory struct{ a *memAccount }

func (m sysvMemory) Charge(n int64) error { return m.a.charge(n) }
func (m sysvMemory) Release(n int64)      { m.a.release(n) }
func (m sysvMemory) Force(n int64)        { m.a.force(n) }

// sockBufs is a socket's reservation in its client's memory account: its
// receive buffer size (SO_RCVBUF), where the data sent to it waits for
// the application (an AF_UNIX queue's limit, a TCP receive window). It
// follows SO_RCVBUF and is returned when the socket is released.
type sockBufs struct {
	// acct is the account charged (nil until reserved). Set once, before
	// the socket is published.
	acct *memAccount
	// reserved is what is charged now.
	reserved atomic.Int64
}

// reserve charges n bytes to acct, or (force: a Restore rebuilding what
// the client held before) takes them whatever the limit; ENOBUFS beyond
// it, as Linux's socket calls fail when socket memory runs out.
func (b *sockBufs) reserve(acct *memAccount, n int64, force bool) error {
	if force {
		acct.force(n)
	} else if err := acct.charge(n); err != nil {
		return unix.ENOBUFS
	}
	b.acct = acct
	b.reserved.Store(n)
	return nil
}

// resize makes the reservation n bytes: ENOBUFS if growing it would pass
// the limit (the buffer then keeps its size).
func (b *sockBufs) resize(n int64) error {
	if b.acct == nil {
		return nil
	}
	grow := n - b.reserved.Load()
	if grow > 0 {
		if err := b.acct.charge(grow); err != nil {
			return unix.ENOBUFS
		}
	} else {
		b.acct.release(-grow)
	}
	b.reserved.Add(grow)
	return nil
}

// unreserve returns the reservation, once.
func (b *sockBufs) unreserve() {
	if n := b.reserved.Swap(0); n != 0 && b.acct != nil {
		b.acct.release(n)
	}
}
