package fdesc

import "sync"

// The owner types of struct f_owner_ex (x/sys/unix lacks them).
const (
	OwnerTID  = 0
	OwnerPID  = 1
	OwnerPGRP = 2
)

// Async is a description's owner, I/O signal and O_ASYNC watcher. The
// zero value has no owner, SIGIO and no watcher.
type Async struct {
	// mu protects the fields below. It is a leaf lock.
	mu sync.Mutex
	// ownerType is OwnerTID, OwnerPID or OwnerPGRP; ownerID the owner
	// (0: none). Set by fcntl and F_SETLEASE.
	ownerType, ownerID int32
	// sig is F_SETSIG's signal (0: SIGIO with no details).
	sig int32
	// watchStop, when non-nil, stops the O_ASYNC watcher; watchFD is
	// the fd its signals name (si_fd).
	watchStop chan struct{}
	watchFD   int32
}

// Owner returns the owner's type and id (0: none) and the I/O signal (0:
// SIGIO with no details).
func (a *Async) Owner() (typ, id, sig int32) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.ownerType, a.ownerID, a.sig
}

// SetOwner sets the owner; the caller checked that it exists.
func (a *Async) SetOwner(typ, id int32) {
	a.mu.Lock()
	a.ownerType, a.ownerID = typ, id
	a.mu.Unlock()
}

// SetSig sets the I/O signal; the caller checked its number.
func (a *Async) SetSig(sig int32) {
	a.mu.Lock()
	a.sig = sig
	a.mu.Unlock()
}

// WatchFD returns the fd the watcher's signals name.
func (a *Async) WatchFD() int32 {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.watchFD
}

// State returns the owner, the signal and, if a watcher runs, the fd it
// names (for the description's replay record).
func (a *Async) State() (typ, id, sig, watchFD int32, watching bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.ownerType, a.ownerID, a.sig, a.watchFD, a.watchStop != nil
}

// StartWatch makes fd the one the watcher's signals name. If no watcher
// runs it returns the channel that will stop the one the caller must
// start, and true; if one runs already, nil and false.
func (a *Async) StartWatch(fd int32) (stop <-chan struct{}, start bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.watchFD = fd
	if a.watchStop != nil {
		return nil, false
	}
	a.watchStop = make(chan struct{})
	return a.watchStop, true
}

// StopWatch stops the watcher, if any (O_ASYNC cleared, or the
// description released).
func (a *Async) StopWatch() {
	a.mu.Lock()
	if a.watchStop != nil {
		close(a.watchStop)
		a.watchStop = nil
	}
	a.mu.Unlock()
}
