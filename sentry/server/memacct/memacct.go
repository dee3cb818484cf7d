package memacct

import (
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// DefaultLimit is the limit of an account whose configured limit is not
// positive: 8192 pipes' worth.
const DefaultLimit = 512 << 20

// Memory is a client's memory account as the objects that queue data
// see it (System V and POSIX message queues): Charge reserves n bytes or
// fails (the caller returns ENOMEM), Release returns them, Force reserves
// them whatever the limit (a Restore rebuilding what the client held).
// *Account is one; tests have their own.
type Memory interface {
	Charge(n int64) error
	Release(n int64)
	Force(n int64)
}

var _ Memory = (*Account)(nil)

// Account bounds the memory the server holds for one client's kernel
// objects that buffer data. An object reserves its bound when made (the
// call making it fails with ENOMEM beyond the client's limit) and returns
// it when it is gone. Safe for concurrent use; no lock.
type Account struct {
	// limit is the most the client may hold, in bytes. Immutable.
	limit int64
	// used is what the client's objects hold now.
	used atomic.Int64
}

// NewAccount returns an account of limit bytes (DefaultLimit if limit is
// not positive).
func NewAccount(limit int64) *Account {
	if limit <= 0 {
		limit = DefaultLimit
	}
	return &Account{limit: limit}
}

// Limit is the most the account's client may hold, in bytes.
func (a *Account) Limit() int64 { return a.limit }

// Used is what the account's client holds now, in bytes.
func (a *Account) Used() int64 { return a.used.Load() }

// Charge reserves n bytes, or fails with ENOMEM if that would exceed the
// limit.
func (a *Account) Charge(n int64) error {
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

// Force reserves n bytes whatever the limit: for state a Restore
// rebuilds, which the client already held on its previous server under
// the same limit, and for data in transit that must not be refused.
func (a *Account) Force(n int64) { a.used.Add(n) }

// Release returns n bytes.
func (a *Account) Release(n int64) { a.used.Add(-n) }

// SocketBuffers is a socket's reservation in its client's account: its
// receive buffer size (SO_RCVBUF), where the data sent to it waits for
// the application (an AF_UNIX queue's limit, a TCP receive window). It
// follows SO_RCVBUF and is returned when the socket is released.
type SocketBuffers struct {
	// acct is the account charged (nil until reserved). Set once, before
	// the socket is published.
	acct *Account
	// reserved is what is charged now.
	reserved atomic.Int64
}

// Reserve charges n bytes to acct, or (force: a Restore rebuilding what
// the client held before) takes them whatever the limit; ENOBUFS beyond
// it, as Linux's socket calls fail when socket memory runs out.
func (b *SocketBuffers) Reserve(acct *Account, n int64, force bool) error {
	if force {
		acct.Force(n)
	} else if err := acct.Charge(n); err != nil {
		return unix.ENOBUFS
	}
	b.acct = acct
	b.reserved.Store(n)
	return nil
}

// Resize makes the reservation n bytes: ENOBUFS if growing it would pass
// the limit (the buffer then keeps its size).
func (b *SocketBuffers) Resize(n int64) error {
	if b.acct == nil {
		return nil
	}
	grow := n - b.reserved.Load()
	if grow > 0 {
		if err := b.acct.Charge(grow); err != nil {
			return unix.ENOBUFS
		}
	} else {
		b.acct.Release(-grow)
	}
	b.reserved.Add(grow)
	return nil
}

// Unreserve returns the reservation, once.
func (b *SocketBuffers) Unreserve() {
	if n := b.reserved.Swap(0); n != 0 && b.acct != nil {
		b.acct.Release(n)
	}
}
