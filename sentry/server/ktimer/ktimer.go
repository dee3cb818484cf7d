package ktimer

import (
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/sentry/ktime"
)

// MinPeriod is the shortest time between two firings of a periodic
// Timer: expirations in between are counted, not fired one by one, so a
// timer with a tiny period costs the server no more than this rate.
const MinPeriod = 100 * time.Microsecond

// Clock is a host clock plus an offset: the application's clock as the
// client reads it. It implements ktime.Clock.
//
// The offset is estimated from samples of the client's clock (Observe):
// a reading the client took before sending a message, compared with the
// host clock when the message is handled, gives a lower bound of the
// true offset (the client's clock had advanced by the message's transit
// since). The estimate is the greatest lower bound among the samples of
// the last sampleWindow, so it is never ahead of the client's clock (a
// timer never fires early), lags it by the smallest transit seen, and
// follows drift and steps of the client's clock within the window.
type Clock struct {
	hostID int32
	// offset is the current estimate in nanoseconds (atomic: read by
	// Now without mu).
	offset atomic.Int64

	// mu protects samples. It is a leaf.
	mu sync.Mutex
	// samples are the recent lower bounds, oldest first.
	samples []offsetSample
}

// offsetSample is one lower bound of the offset, taken at host time at.
type offsetSample struct {
	at, lower int64
}

const (
	// sampleWindow is how long a sample counts.
	sampleWindow = 2 * time.Second
	// maxSamples bounds the samples kept (a burst of timer calls).
	maxSamples = 64
	// maxOffset bounds an offset: beyond it a client's reading is
	// nonsense (and would overflow the host time plus the offset).
	maxOffset = int64(1) << 61
)

// NewClock returns the host clock hostID (unix.CLOCK_REALTIME,
// CLOCK_MONOTONIC or CLOCK_BOOTTIME) shifted by offset.
func NewClock(hostID int32, offset time.Duration) *Clock {
	c := &Clock{hostID: hostID}
	c.offset.Store(int64(offset))
	// The initial offset counts as a sample of the window.
	c.samples = append(c.samples, offsetSample{at: HostNow(hostID), lower: int64(offset)})
	return c
}

// Observe folds a reading of the application's clock (nanoseconds) that
// the client took before sending the message now being handled. It
// reports whether the reading was used (a non-positive reading or an
// absurd offset is not).
func (c *Clock) Observe(clientNanos int64) bool {
	if clientNanos <= 0 {
		return false
	}
	host := HostNow(c.hostID)
	lower := clientNanos - host
	if lower > maxOffset || lower < -maxOffset {
		return false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	// Drop what fell out of the window, and the oldest beyond the bound.
	keep := 0
	for keep < len(c.samples) && (host-c.samples[keep].at > int64(sampleWindow) || len(c.samples)-keep >= maxSamples) {
		keep++
	}
	c.samples = append(c.samples[keep:], offsetSample{at: host, lower: lower})
	best := lower
	for _, s := range c.samples {
		best = max(best, s.lower)
	}
	c.offset.Store(best)
	return true
}

// Offset returns the current estimate of the offset.
func (c *Clock) Offset() time.Duration { return time.Duration(c.offset.Load()) }

// HostNow reads host clock id in nanoseconds.
func HostNow(id int32) int64 {
	var ts unix.Timespec
	if err := unix.ClockGettime(id, &ts); err != nil {
		// Only an invalid id fails; NewClock's callers pass valid ones.
		return time.Now().UnixNano()
	}
	return ts.Nano()
}

// Now implements ktime.Clock.Now.
func (c *Clock) Now() ktime.Time {
	return ktime.FromNanoseconds(HostNow(c.hostID) + c.offset.Load())
}

// NewTimer implements ktime.Clock.NewTimer.
func (c *Clock) NewTimer(l ktime.Listener) ktime.Timer { return NewTimer(c, l) }

// ListenerFunc adapts a function to ktime.Listener.
type ListenerFunc func(exp uint64)

// NotifyTimer implements ktime.Listener.NotifyTimer.
func (f ListenerFunc) NotifyTimer(exp uint64) { f(exp) }

// Timer is a one-shot or periodic timer on a Clock, driven by a Go timer.
// It implements ktime.Timer.
type Timer struct {
	clock    *Clock
	listener ktime.Listener

	mu sync.Mutex
	// setting is the current setting, advanced past every expiration
	// already passed to the listener. Protected by mu.
	setting ktime.Setting
	// kick fires at the next expiration. Protected by mu.
	kick *time.Timer
	// gen counts Set, Pause and Destroy calls: a kick armed before one of
	// them does nothing. Protected by mu.
	gen uint64
	// paused and destroyed stop expirations. Protected by mu.
	paused, destroyed bool
}

// NewTimer returns a stopped timer on clock that reports expirations to l.
func NewTimer(clock *Clock, l ktime.Listener) *Timer {
	return &Timer{clock: clock, listener: l}
}

// Clock implements ktime.Timer.Clock.
func (t *Timer) Clock() ktime.Clock { return t.clock }

// Get implements ktime.Timer.Get: the setting as of now (expirations not
// yet fired are skipped in the returned copy, not reported).
func (t *Timer) Get() (ktime.Time, ktime.Setting) {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.clock.Now()
	s, _ := t.setting.At(now)
	return now, s
}

// Setting returns the current setting as it is, its next expiration not
// advanced to now (an expiration due but not yet fired is still next).
func (t *Timer) Setting() ktime.Setting {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.setting
}

// Set implements ktime.Timer.Set. An expiration of the old setting that
// was due but not yet fired is dropped, as if Set had come just before
// it: the listener is never called from Set, whose callers may hold the
// locks the listener takes.
func (t *Timer) Set(s ktime.Setting, f func()) (ktime.Time, ktime.Setting) {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.clock.Now()
	old, _ := t.setting.At(now)
	if t.destroyed {
		s = ktime.Setting{}
	}
	t.setting = s
	t.armLocked(now)
	if f != nil {
		f()
	}
	return now, old
}

// Stop disarms the timer and returns its setting as of now.
func (t *Timer) Stop() ktime.Setting {
	_, old := t.Set(ktime.Setting{}, nil)
	return old
}

// Destroy implements ktime.Timer.Destroy: the timer never fires again.
func (t *Timer) Destroy() {
	t.mu.Lock()
	t.destroyed = true
	t.setting = ktime.Setting{}
	t.armLocked(ktime.Time{})
	t.mu.Unlock()
}

// Pause implements ktime.Timer.Pause.
func (t *Timer) Pause() {
	t.mu.Lock()
	t.paused = true
	t.armLocked(ktime.Time{})
	t.mu.Unlock()
}

// Resume implements ktime.Timer.Resume.
func (t *Timer) Resume() {
	t.mu.Lock()
	if t.paused {
		t.paused = false
		t.armLocked(t.clock.Now())
	}
	t.mu.Unlock()
}

// armLocked replaces the kick by one for the current setting.
// Precondition: t.mu is held.
func (t *Timer) armLocked(now ktime.Time) {
	t.gen++
	if t.kick != nil {
		t.kick.Stop()
		t.kick = nil
	}
	if !t.setting.Enabled || t.paused || t.destroyed {
		return
	}
	t.kick = time.AfterFunc(max(t.setting.Next.Sub(now), 0), t.firer(t.gen))
}

func (t *Timer) firer(gen uint64) func() {
	return func() { t.fire(gen) }
}

// fire runs when the kick of generation gen expires.
func (t *Timer) fire(gen uint64) {
	t.mu.Lock()
	if gen != t.gen || t.paused || t.destroyed {
		t.mu.Unlock()
		return
	}
	now := t.clock.Now()
	s, exp := t.setting.At(now)
	t.setting = s
	if s.Enabled {
		// The host clock may run a little behind the Go timer (exp == 0):
		// wait for the rest. A periodic timer fires at most every
		// MinPeriod.
		d := s.Next.Sub(now)
		if exp > 0 {
			d = max(d, MinPeriod)
		}
		t.kick = time.AfterFunc(max(d, 0), t.firer(gen))
	} else {
		t.kick = nil
	}
	t.mu.Unlock()
	if exp > 0 {
		t.listener.NotifyTimer(exp)
	}
}

var (
	_ ktime.Clock = (*Clock)(nil)
	_ ktime.Timer = (*Timer)(nil)
)
