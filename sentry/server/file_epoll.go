package server

import (
	"encoding/binary"
	"sort"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/fsimpl/anon"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/wake"
)

// epoll is written over the server's own readiness (fileImpl.readiness:
// events now, and a channel closed when they may change) rather than
// gVisor's vfs.EpollInstance: that one accepts only vfs.FileDescriptions
// and keeps its interest list private, while an epoll here must watch
// pipes, stdio and sockets of the server's own kinds, and recovery must
// read its interest list back out.

const (
	epollET      = 1 << 31
	epollOneshot = 1 << 30
	// epollFlagsAccepted are the event bits epoll_ctl takes.
	epollEventBits = pollIn | pollPri | pollOut | pollErr | pollHup | pollRdNorm | pollWrNorm |
		0x80 | 0x200 | 0x400 | 0x2000 /* RDBAND WRBAND MSG RDHUP */
	epollExclusive = 1 << 28
	epollWakeup    = 1 << 29
	sizeofEpollEvt = 12
	// maxEpollEvents bounds epoll_wait's maxevents (Linux: INT_MAX / 12).
	maxEpollEvents = (1<<31 - 1) / sizeofEpollEvt
)

// epollKey is what an interest is registered under: the description and
// the fd number it was added with (as Linux's epitem key).
type epollKey struct {
	f  *file
	fd int32
}

// epollInterest is one registered (fd, description).
type epollInterest struct {
	key    epollKey
	events uint32 // requested events with EPOLLET / EPOLLONESHOT
	data   uint64
	// disabled is set when a EPOLLONESHOT interest has fired, until the
	// next EPOLL_CTL_MOD.
	disabled bool
	// pending is set for an edge-triggered interest when its file may
	// have changed since it was last reported (or since it was added).
	pending bool
	// ch is the readiness channel taken at the last check (nil: none).
	ch <-chan struct{}
	// wasReady says the interest was ready at its last check; order is
	// its place in the ready order (see collect).
	wasReady bool
	order    uint64
}

// epollFile is an epoll instance.
type epollFile struct {
	anon.Base
	// mu protects the fields below. It is taken before the locks of the
	// watched files' readiness (pipe.mu, ...) and of a nested epoll
	// (a nested instance is never an ancestor: EPOLL_CTL_ADD refuses
	// loops).
	mu        sync.Mutex
	interests []*epollInterest
	// nextOrder numbers the ready order.
	nextOrder uint64
	// changed is notified when the interest list changes, so that a
	// waiter re-reads it.
	changed wake.Notifier
	// closed is closed on release, ending readiness watchers.
	closed chan struct{}
}

func newEpollFile(flags uint32) *file {
	return newFile(&epollFile{Base: anon.NewBase(0600), closed: make(chan struct{})}, nil, unix.O_RDWR|flags&unix.O_NONBLOCK)
}

func (ep *epollFile) Release() {
	ep.mu.Lock()
	ep.interests = nil
	ep.changed.Notify()
	ep.mu.Unlock()
	close(ep.closed)
}

func (ep *epollFile) findLocked(k epollKey) int {
	for i, in := range ep.interests {
		if in.key == k {
			return i
		}
	}
	return -1
}

// epollMaxNests is Linux's EPOLL_MAX_NESTS: how many epoll instances may
// nest below the one an epoll is added to.
const epollMaxNests = 4

// contains reports whether target is ep or reachable from ep's interests,
// or ep nests more than epollMaxNests epolls deep (EPOLL_CTL_ADD of an
// epoll that would make a loop or too deep a nest fails with ELOOP).
func (ep *epollFile) contains(target *epollFile, depth int) bool {
	if ep == target {
		return true
	}
	if depth >= epollMaxNests {
		return true
	}
	ep.mu.Lock()
	var subs []*epollFile
	for _, in := range ep.interests {
		if sub, ok := in.key.f.Impl.(*epollFile); ok {
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

// collect checks the interests and returns up to max ready events,
// consuming edges and one-shots when consume is set; if none is ready it
// returns the channels to wait on. Events come in the order the
// interests became ready, a reported level-triggered one going to the
// back, as Linux's ready list orders them.
func (ep *epollFile) collect(who *thread, max int, consume bool) (evs []epollEvent, chs []<-chan struct{}, disabled bool) {
	ep.mu.Lock()
	defer ep.mu.Unlock()
	type cand struct {
		in *epollInterest
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
		et := in.events&epollET != 0
		if in.events&epollExclusive != 0 && in.ch != nil {
			select {
			case <-in.ch:
				if !exclusiveWakes.claim(in.ch) {
					// Another EPOLLEXCLUSIVE interest took this
					// change (Linux wakes one exclusive waiter):
					// wait for the next.
					_, in.ch = readinessOf(who, in.key.f)
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
		r, ch := ep.checkLocked(who, in)
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
		evs = append(evs, epollEvent{events: c.r, data: c.in.data})
		if !consume {
			continue
		}
		c.in.ch = c.ch
		c.in.order = ep.nextOrder
		ep.nextOrder++
		if c.in.events&epollET != 0 {
			c.in.pending = false
			c.in.wasReady = false
		}
		if c.in.events&epollOneshot != 0 {
			c.in.disabled = true
			disabled = true
		}
	}
	return evs, chs, disabled
}

// exclusiveWakes are the readiness changes an EPOLLEXCLUSIVE interest
// has taken: of the exclusive interests woken by one change (one closed
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
func (ep *epollFile) checkLocked(who *thread, in *epollInterest) (uint32, <-chan struct{}) {
	ev, ch := readinessOf(who, in.key.f)
	r := ev & (in.events&epollEventBits | pollErr | pollHup)
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

type epollEvent struct {
	events uint32
	data   uint64
}

func (ep *epollFile) Readiness(*file) (uint32, <-chan struct{}) {
	evs, chs, _ := ep.collect(nil, 1, false)
	if len(evs) > 0 {
		return pollIn | pollRdNorm, nil
	}
	return 0, mergeChannels(chs, ep.closed)
}

// mergeChannels returns a channel closed when any of chs is closed (or
// stop is).
func mergeChannels(chs []<-chan struct{}, stop <-chan struct{}) <-chan struct{} {
	merged := make(chan struct{})
	var once sync.Once
	for _, ch := range chs {
		go func(ch <-chan struct{}) {
			select {
			case <-ch:
				once.Do(func() { close(merged) })
			case <-merged:
			case <-stop:
			}
		}(ch)
	}
	return merged
}

func sysEpollCreate(c *syscallCtx) (int64, error) {
	var flags uint32
	if c.sysno == unix.SYS_EPOLL_CREATE1 {
		flags = uint32(c.args[0])
		if flags&^unix.EPOLL_CLOEXEC != 0 {
			return 0, unix.EINVAL
		}
	} else if int32(c.args[0]) <= 0 {
		return 0, unix.EINVAL
	}
	tab, err := c.fdTable()
	if err != nil {
		return 0, err
	}
	fd, err := tab.install(newEpollFile(0), 0, flags&unix.EPOLL_CLOEXEC != 0)
	return int64(fd), err
}

func sysEpollCtl(c *syscallCtx) (int64, error) {
	op, fd := int(c.args[1]), c.argInt(2)
	epf, err := c.getFile(c.argInt(0))
	if err != nil {
		return 0, err
	}
	defer epf.DecRef()
	tf, err := c.getFile(fd)
	if err != nil {
		return 0, err
	}
	defer tf.DecRef()
	if epf.IsPath() || tf.IsPath() {
		// An O_PATH descriptor is for the path only (Linux's fdget
		// refuses it).
		return 0, unix.EBADF
	}
	ep, ok := epf.Impl.(*epollFile)
	if !ok || epf == tf {
		return 0, unix.EINVAL
	}
	if pf, ok := tf.Impl.(*procFile); !tf.Impl.Stream() && (!ok || pf.mounts == nil) {
		// Regular files and directories are always ready: Linux refuses
		// them (but /proc/<pid>/mounts, which polls mount changes).
		return 0, unix.EPERM
	}
	var events uint32
	var data uint64
	if op != unix.EPOLL_CTL_DEL {
		b, err := c.mem.CopyIn(c.args[3], sizeofEpollEvt)
		if err != nil {
			return 0, err
		}
		events = binary.LittleEndian.Uint32(b)
		data = binary.LittleEndian.Uint64(b[4:])
		if events&epollExclusive != 0 && (op == unix.EPOLL_CTL_MOD || events&^(epollExclusive|pollIn|pollOut|pollErr|pollHup|epollWakeup|epollET) != 0) {
			return 0, unix.EINVAL
		}
		if _, isEpoll := tf.Impl.(*epollFile); isEpoll && events&epollExclusive != 0 {
			return 0, unix.EINVAL
		}
		// EPOLLEXCLUSIVE stays in the interest's events (and its
		// record): collect wakes one of the exclusive interests.
		events &^= epollWakeup
	}
	if sub, ok := tf.Impl.(*epollFile); ok && op == unix.EPOLL_CTL_ADD && sub.contains(ep, 0) {
		return 0, unix.ELOOP
	}
	key := epollKey{f: tf, fd: fd}
	ep.mu.Lock()
	defer ep.mu.Unlock()
	i := ep.findLocked(key)
	switch op {
	case unix.EPOLL_CTL_ADD:
		if i >= 0 {
			return 0, unix.EEXIST
		}
		in := &epollInterest{key: key, events: events, data: data, pending: true}
		ep.checkLocked(c.t, in)
		ep.interests = append(ep.interests, in)
	case unix.EPOLL_CTL_MOD:
		if i < 0 {
			return 0, unix.ENOENT
		}
		in := ep.interests[i]
		if in.events&epollExclusive != 0 {
			// Linux refuses to modify an exclusive interest.
			return 0, unix.EINVAL
		}
		in.events, in.data, in.disabled, in.pending, in.ch, in.wasReady = events, data, false, true, nil, false
		ep.checkLocked(c.t, in)
	case unix.EPOLL_CTL_DEL:
		if i < 0 {
			return 0, unix.ENOENT
		}
		ep.interests = append(ep.interests[:i], ep.interests[i+1:]...)
	default:
		return 0, unix.EINVAL
	}
	ep.changed.Notify()
	epf.Changed()
	return 0, nil
}

// sysEpollWait is epoll_wait, epoll_pwait and epoll_pwait2 (whose
// timeout is a timespec). The signal mask of the p variants is the
// client's: it installs it around the forwarded wait.
func sysEpollWait(c *syscallCtx) (int64, error) {
	maxEv, timeout := int(int32(c.args[2])), int(int32(c.args[3]))
	if maxEv <= 0 || maxEv > maxEpollEvents {
		return 0, unix.EINVAL
	}
	var d time.Duration
	if c.sysno == unix.SYS_EPOLL_PWAIT2 {
		timeout = -1
		if c.args[3] != 0 {
			b, err := c.mem.CopyIn(c.args[3], 16)
			if err != nil {
				return 0, err
			}
			if d, err = readTimespec(b); err != nil {
				return 0, err
			}
			timeout = 1
			if d == 0 {
				timeout = 0
			}
		}
	} else if timeout > 0 {
		d = time.Duration(timeout) * time.Millisecond
	}
	epf, err := c.getFile(c.argInt(0))
	if err != nil {
		return 0, err
	}
	defer epf.DecRef()
	ep, ok := epf.Impl.(*epollFile)
	if !ok {
		return 0, unix.EINVAL
	}
	if c.args[1] == 0 {
		return 0, unix.EFAULT
	}
	var deadline time.Time
	if timeout > 0 {
		deadline = time.Now().Add(d)
	}
	for {
		evs, chs, disabled := ep.collect(c.t, maxEv, true)
		if len(evs) > 0 {
			b := make([]byte, sizeofEpollEvt*len(evs))
			for i, e := range evs {
				binary.LittleEndian.PutUint32(b[sizeofEpollEvt*i:], e.events)
				binary.LittleEndian.PutUint64(b[sizeofEpollEvt*i+4:], e.data)
			}
			if err := c.mem.CopyOut(c.args[1], b); err != nil {
				return 0, err
			}
			if disabled {
				epf.Changed() // a one-shot interest is now off
			}
			return int64(len(evs)), nil
		}
		if timeout == 0 {
			return 0, nil
		}
		if err := c.waitAny(chs, deadline); err != nil {
			if err == unix.ETIMEDOUT {
				return 0, nil
			}
			return 0, err
		}
	}
}
