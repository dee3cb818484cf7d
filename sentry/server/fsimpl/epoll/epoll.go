package epoll

import (
	"sort"
	"sync"

	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"

	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/fdesc"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/fsimpl/anon"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/wake"
)

// Flags of an interest's events.
const (
	ET        = 1 << 31
	Oneshot   = 1 << 30
	Wakeup    = 1 << 29
	Exclusive = 1 << 28
	// eventBits are the event bits an interest may ask for.
	eventBits = linux.POLLIN | linux.POLLPRI | linux.POLLOUT | linux.POLLERR | linux.POLLHUP |
		linux.POLLRDNORM | linux.POLLWRNORM | 0x80 | 0x200 | 0x400 | 0x2000 /* RDBAND WRBAND MSG RDHUP */
)

// EventSize is sizeof(struct epoll_event); MaxEvents bounds epoll_wait's
// maxevents (Linux: INT_MAX / 12).
const (
	EventSize = 12
	MaxEvents = (1<<31 - 1) / EventSize
)

// maxNests is Linux's EPOLL_MAX_NESTS: how many epoll instances may nest
// below the one an epoll is added to.
const maxNests = 4

// Readiness is a watched file's readiness for the wait that asks (the
// server's: a signalfd's depends on the waiting thread).
type Readiness func(f *fdesc.File) (uint32, <-chan struct{})

// Readiness of a file with no waiting thread (a nested epoll, O_ASYNC).
func noWaiter(f *fdesc.File) (uint32, <-chan struct{}) { return f.Impl.Readiness(f) }

// key is what an interest is registered under: the description and the
// fd number it was added with (as Linux's epitem key).
type key struct {
	f  *fdesc.File
	fd int32
}

// interest is one registered (fd, description).
type interest struct {
	key    key
	events uint32 // requested events with ET / Oneshot / Exclusive
	data   uint64
	// disabled is set when a Oneshot interest has fired, until the next
	// EPOLL_CTL_MOD.
	disabled bool
	// pending is set for an edge-triggered interest when its file may
	// have changed since it was last reported (or since it was added).
	pending bool
	// ch is the readiness channel taken at the last check (nil: none).
	ch <-chan struct{}
	// wasReady says the interest was ready at its last check; order is
	// its place in the ready order (see Collect).
	wasReady bool
	order    uint64
}

// File is an epoll instance.
type File struct {
	anon.Base
	// mu protects the fields below. It is taken before the locks of the
	// watched files' readiness (pipe.mu, ...) and of a nested epoll (a
	// nested instance is never an ancestor: EPOLL_CTL_ADD refuses
	// loops).
	mu        sync.Mutex
	interests []*interest
	// nextOrder numbers the ready order.
	nextOrder uint64
	// changed is notified when the interest list changes, so that a
	// waiter re-reads it.
	changed wake.Notifier
	// closed is closed on release, ending readiness watchers.
	closed chan struct{}
}

// New returns a description of a new epoll instance with flags'
// O_NONBLOCK.
func New(flags uint32) *fdesc.File {
	return fdesc.NewFile(&File{Base: anon.NewBase(0600), closed: make(chan struct{})}, nil, nil, unix.O_RDWR|flags&unix.O_NONBLOCK)
}

// Release drops the interests.
func (ep *File) Release() {
	ep.mu.Lock()
	ep.interests = nil
	ep.changed.Notify()
	ep.mu.Unlock()
	close(ep.closed)
}

func (ep *File) findLocked(k key) int {
	for i, in := range ep.interests {
		if in.key == k {
			return i
		}
	}
	return -1
}

// contains reports whether target is ep or reachable from ep's interests,
// or ep nests more than maxNests epolls deep (EPOLL_CTL_ADD of an epoll
// that would make a loop or too deep a nest fails with ELOOP).
func (ep *File) contains(target *File, depth int) bool {
	if ep == target {
		return true
	}
	if depth >= maxNests {
		return true
	}
	ep.mu.Lock()
	var subs []*File
	for _, in := range ep.interests {
		if sub, ok := in.key.f.Impl.(*File); ok {
			subs = append(subs, sub)
		}
	}
	ep.mu.Unlock()
	for _, sub := range subs {
		if sub.contains(target, depth+1) {
			return true
		}
	}
	return false
}

// Ctl is epoll_ctl's op (EPOLL_CTL_ADD, MOD, DEL) on the interest in tf
// at fd, with events and data (ADD, MOD), each check of readiness by rd.
// The caller checked that tf is not ep and may be watched.
func (ep *File) Ctl(rd Readiness, op int, tf *fdesc.File, fd int32, events uint32, data uint64) error {
	if op != unix.EPOLL_CTL_DEL {
		if events&Exclusive != 0 && (op == unix.EPOLL_CTL_MOD ||
			events&^(Exclusive|linux.POLLIN|linux.POLLOUT|linux.POLLERR|linux.POLLHUP|Wakeup|ET) != 0) {
			return unix.EINVAL
		}
		if _, isEpoll := tf.Impl.(*File); isEpoll && events&Exclusive != 0 {
			return unix.EINVAL
		}
		// Exclusive stays in the interest's events (and its record):
		// Collect wakes one of the exclusive interests.
		events &^= Wakeup
	}
	if sub, ok := tf.Impl.(*File); ok && op == unix.EPOLL_CTL_ADD && sub.contains(ep, 0) {
		return unix.ELOOP
	}
	k := key{f: tf, fd: fd}
	ep.mu.Lock()
	defer ep.mu.Unlock()
	i := ep.findLocked(k)
	switch op {
	case unix.EPOLL_CTL_ADD:
		if i >= 0 {
			return unix.EEXIST
		}
		in := &interest{key: k, events: events, data: data, pending: true}
		ep.checkLocked(rd, in)
		ep.interests = append(ep.interests, in)
	case unix.EPOLL_CTL_MOD:
		if i < 0 {
			return unix.ENOENT
		}
		in := ep.interests[i]
		if in.events&Exclusive != 0 {
			// Linux refuses to modify an exclusive interest.
			return unix.EINVAL
		}
		in.events, in.data, in.disabled, in.pending, in.ch, in.wasReady = events, data, false, true, nil, false
		ep.checkLocked(rd, in)
	case unix.EPOLL_CTL_DEL:
		if i < 0 {
			return unix.ENOENT
		}
		ep.interests = append(ep.interests[:i], ep.interests[i+1:]...)
	default:
		return unix.EINVAL
	}
	ep.changed.Notify()
	return nil
}

// Interest is an interest as its replay record has it.
type Interest struct {
	File     *fdesc.File
	FD       int32
	Events   uint32
	Data     uint64
	Disabled bool
}

// Interests returns the interests whose description is still open.
func (ep *File) Interests() []Interest {
	ep.mu.Lock()
	defer ep.mu.Unlock()
	var out []Interest
	for _, in := range ep.interests {
		if in.key.f.Released() {
			continue
		}
		out = append(out, Interest{File: in.key.f, FD: in.key.fd, Events: in.events, Data: in.data, Disabled: in.disabled})
	}
	return out
}

// Targets returns the open descriptions of the interests added with fd
// number fd, in the order they were added (kcmp's KCMP_EPOLL_TFD picks
// one of them).
func (ep *File) Targets(fd int32) []*fdesc.File {
	ep.mu.Lock()
	defer ep.mu.Unlock()
	var out []*fdesc.File
	for _, in := range ep.interests {
		if in.key.fd == fd && !in.key.f.Released() {
			out = append(out, in.key.f)
		}
	}
	return out
}

// Restore adds the recorded interests of a new instance; each is
// checked as if just added (an edge-triggered one reports its current
// readiness once).
func (ep *File) Restore(ins []Interest) {
	ep.mu.Lock()
	defer ep.mu.Unlock()
	for _, r := range ins {
		in := &interest{key: key{f: r.File, fd: r.FD}, events: r.Events, data: r.Data, disabled: r.Disabled, pending: true}
		ep.checkLocked(noWaiter, in)
		ep.interests = append(ep.interests, in)
	}
}

// Event is a reported event.
type Event struct {
	Events uint32
	Data   uint64
}

// Collect checks the interests and returns up to max ready events,
// consuming edges and one-shots when consume is set; if none is ready it
// returns the channels to wait on. Events come in the order the
// interests became ready, a reported level-triggered one going to the
// back, as Linux's ready list orders them. disabled says a one-shot
// interest went off (a change of the record).
func (ep *File) Collect(rd Readiness, max int, consume bool) (evs []Event, chs []<-chan struct{}, disabled bool) {
	ep.mu.Lock()
	defer ep.mu.Unlock()
	return ep.collectLocked(rd, max, consume)
}

// IdleWatch reports whether nothing ep watches is ready for rd and each
// interest's description passes kind, and then returns the channels a
// change of that closes: its interests' and its own (an epoll_ctl).
func (ep *File) IdleWatch(rd Readiness, kind func(*fdesc.File) bool) ([]<-chan struct{}, bool) {
	ep.mu.Lock()
	defer ep.mu.Unlock()
	for _, in := range ep.interests {
		if !in.key.f.Released() && !kind(in.key.f) {
			return nil, false
		}
	}
	evs, chs, _ := ep.collectLocked(rd, 1, false)
	return chs, len(evs) == 0
}

// collectLocked is Collect. Precondition: ep.mu is held.
func (ep *File) collectLocked(rd Readiness, max int, consume bool) (evs []Event, chs []<-chan struct{}, disabled bool) {
	type cand struct {
		in *interest
		r  uint32
		ch <-chan struct{}
	}
	var ready []cand
	chs = []<-chan struct{}{ep.changed.Wait()}
	live := ep.interests[:0]
	for _, in := range ep.interests {
		if in.key.f.Released() {
			// The description was closed: Linux drops the interest.
			continue
		}
		live = append(live, in)
		if in.disabled {
			continue
		}
		et := in.events&ET != 0
		if in.events&Exclusive != 0 && in.ch != nil {
			select {
			case <-in.ch:
				if !exclusiveWakes.claim(in.ch) {
					// Another Exclusive interest took this change
					// (Linux wakes one exclusive waiter): wait for
					// the next.
					_, in.ch = rd(in.key.f)
					in.pending = false
					if in.ch != nil {
						chs = append(chs, in.ch)
					}
					continue
				}
				in.pending = true
			default:
			}
		}
		if et && !in.pending && in.ch != nil {
			select {
			case <-in.ch:
				in.pending = true
			default:
			}
		}
		if et && !in.pending {
			chs = append(chs, in.ch)
			continue
		}
		r, ch := ep.checkLocked(rd, in)
		if r == 0 {
			in.ch = ch
			if et {
				in.pending = false
			}
			if ch != nil {
				chs = append(chs, ch)
			}
			continue
		}
		ready = append(ready, cand{in, r, ch})
	}
	for i := len(live); i < len(ep.interests); i++ {
		ep.interests[i] = nil
	}
	ep.interests = live
	sort.SliceStable(ready, func(i, j int) bool { return ready[i].in.order < ready[j].in.order })
	for i, c := range ready {
		if i >= max {
			c.in.ch = c.ch
			if c.ch != nil {
				chs = append(chs, c.ch)
			}
			continue
		}
		evs = append(evs, Event{Events: c.r, Data: c.in.data})
		if !consume {
			continue
		}
		c.in.ch = c.ch
		c.in.order = ep.nextOrder
		ep.nextOrder++
		if c.in.events&ET != 0 {
			c.in.pending = false
			c.in.wasReady = false
		}
		if c.in.events&Oneshot != 0 {
			c.in.disabled = true
			disabled = true
		}
	}
	return evs, chs, disabled
}

// exclusiveWakes are the readiness changes an Exclusive interest has
// taken: of the exclusive interests woken by one change (one closed
// readiness channel), only the first to claim it reports it, in whatever
// epoll instance, as Linux's exclusive wait queue entries wake one
// waiter (a prefork server's processes sharing a listening socket).
var exclusiveWakes = claimedWakes{claimed: make(map[<-chan struct{}]struct{})}

// claimedWakes remembers the last maxClaimedWakes claimed channels: the
// interests woken by one change claim it within moments of each other.
type claimedWakes struct {
	// mu protects the fields below. A leaf.
	mu      sync.Mutex
	claimed map[<-chan struct{}]struct{}
	order   []<-chan struct{}
}

const maxClaimedWakes = 1024

// claim says whether the change that closed ch is the caller's to report
// (the first claim of it).
func (w *claimedWakes) claim(ch <-chan struct{}) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if _, taken := w.claimed[ch]; taken {
		return false
	}
	w.claimed[ch] = struct{}{}
	w.order = append(w.order, ch)
	if len(w.order) > maxClaimedWakes {
		delete(w.claimed, w.order[0])
		w.order = w.order[1:]
	}
	return true
}

// checkLocked returns the interest's ready events and readiness channel,
// and gives an interest that has just become ready its place at the back
// of the ready order. Precondition: ep.mu is held.
func (ep *File) checkLocked(rd Readiness, in *interest) (uint32, <-chan struct{}) {
	ev, ch := rd(in.key.f)
	r := ev & (in.events&eventBits | linux.POLLERR | linux.POLLHUP)
	switch {
	case r == 0:
		in.wasReady = false
	case !in.wasReady:
		in.wasReady = true
		in.order = ep.nextOrder
		ep.nextOrder++
	}
	return r, ch
}

// Readiness is readable when an interest is ready (for no waiting
// thread: a nested epoll, O_ASYNC).
func (ep *File) Readiness(*fdesc.File) (uint32, <-chan struct{}) {
	evs, chs, _ := ep.Collect(noWaiter, 1, false)
	if len(evs) > 0 {
		return linux.POLLIN | linux.POLLRDNORM, nil
	}
	return 0, wake.Merge(chs, ep.closed)
}
