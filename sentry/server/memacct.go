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
