package ktimer

import (
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/sentry/ktime"
)

// recorder collects expirations.
type recorder struct {
	mu    sync.Mutex
	fires []uint64
	ch    chan struct{}
}

func newRecorder() *recorder { return &recorder{ch: make(chan struct{}, 1000)} }

func (r *recorder) NotifyTimer(exp uint64) {
	r.mu.Lock()
	r.fires = append(r.fires, exp)
	r.mu.Unlock()
	r.ch <- struct{}{}
}

func (r *recorder) total() (n int, exps uint64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, e := range r.fires {
		exps += e
	}
	return len(r.fires), exps
}

// waitFires waits for n firings (generous timeout: the machine is shared).
func (r *recorder) waitFires(t *testing.T, n int) {
	t.Helper()
	for i := 0; i < n; i++ {
		select {
		case <-r.ch:
		case <-time.After(10 * time.Second):
			t.Fatalf("only %d of %d firings", i, n)
		}
	}
}

func TestClockOffset(t *testing.T) {
	for _, id := range []int32{unix.CLOCK_REALTIME, unix.CLOCK_MONOTONIC, unix.CLOCK_BOOTTIME} {
		c := NewClock(id, time.Hour)
		got := c.Now().Nanoseconds() - HostNow(id)
		if got < int64(time.Hour)-int64(time.Second) || got > int64(time.Hour) {
			t.Errorf("clock %d: offset %v, want about 1h", id, time.Duration(got))
		}
	}
}

func TestTimer(t *testing.T) {
	clk := NewClock(unix.CLOCK_MONOTONIC, 0)
	cases := []struct {
		name string
		// value is relative to now (may be negative: already due).
		value, period time.Duration
		// fires is how many firings to wait for; minExp the least number of
		// expirations they must add up to.
		fires  int
		minExp uint64
		// stopAfter stops the timer after the firings; then nothing more
		// may fire.
		stopAfter bool
	}{
		{name: "one shot", value: 10 * time.Millisecond, fires: 1, minExp: 1},
		{name: "periodic", value: 5 * time.Millisecond, period: 5 * time.Millisecond, fires: 3, minExp: 3, stopAfter: true},
		// A restored timer whose expirations fell in an outage fires at
		// once with all of them.
		{name: "overdue periodic", value: -50 * time.Millisecond, period: 10 * time.Millisecond, fires: 1, minExp: 6, stopAfter: true},
		{name: "overdue one shot", value: -time.Second, fires: 1, minExp: 1},
		// A tiny period is rate-limited, its expirations counted.
		{name: "tiny period", value: time.Microsecond, period: time.Microsecond, fires: 2, minExp: 2, stopAfter: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := newRecorder()
			tm := NewTimer(clk, r)
			tm.Set(ktime.Setting{Enabled: true, Next: clk.Now().Add(tc.value), Period: tc.period}, nil)
			r.waitFires(t, tc.fires)
			if tc.stopAfter {
				tm.Stop()
			}
			n, exps := r.total()
			if exps < tc.minExp {
				t.Errorf("%d expirations in %d firings, want at least %d", exps, n, tc.minExp)
			}
			if tc.period == 0 || tc.stopAfter {
				time.Sleep(30 * time.Millisecond)
				if n2, _ := r.total(); n2 != n {
					t.Errorf("fired %d more times after it should have stopped", n2-n)
				}
				if _, s := tm.Get(); s.Enabled {
					t.Errorf("still enabled: %+v", s)
				}
			}
		})
	}
}

func TestTimerSetReportsOldAndGetCountsDown(t *testing.T) {
	clk := NewClock(unix.CLOCK_REALTIME, -time.Minute)
	r := newRecorder()
	tm := NewTimer(clk, r)
	_, old := tm.Set(ktime.Setting{Enabled: true, Next: clk.Now().Add(time.Hour), Period: time.Second}, nil)
	if old.Enabled {
		t.Errorf("a new timer's old setting is enabled: %+v", old)
	}
	now, s := tm.Get()
	if left := s.Next.Sub(now); left <= 59*time.Minute || left > time.Hour || s.Period != time.Second {
		t.Errorf("Get: %v left, period %v", left, s.Period)
	}
	_, old = tm.Set(ktime.Setting{}, nil)
	if !old.Enabled || old.Period != time.Second {
		t.Errorf("old setting %+v", old)
	}
	tm.Destroy()
	tm.Set(ktime.Setting{Enabled: true, Next: clk.Now()}, nil)
	time.Sleep(20 * time.Millisecond)
	if n, _ := r.total(); n != 0 {
		t.Errorf("a destroyed timer fired %d times", n)
	}
}

func TestPauseResume(t *testing.T) {
	clk := NewClock(unix.CLOCK_MONOTONIC, 0)
	r := newRecorder()
	tm := NewTimer(clk, r)
	tm.Set(ktime.Setting{Enabled: true, Next: clk.Now().Add(20 * time.Millisecond)}, nil)
	tm.Pause()
	time.Sleep(50 * time.Millisecond)
	if n, _ := r.total(); n != 0 {
		t.Fatalf("a paused timer fired")
	}
	tm.Resume()
	r.waitFires(t, 1)
	if _, exps := r.total(); exps != 1 {
		t.Errorf("%d expirations after resume, want 1", exps)
	}
}

// TestSetDoesNotCallListener: the owner holds its lock around Set, and
// its listener takes that lock; an overdue setting replaced by Set must
// not reach the listener from Set (a self-deadlock).
func TestSetDoesNotCallListener(t *testing.T) {
	clk := NewClock(unix.CLOCK_MONOTONIC, 0)
	var mu sync.Mutex
	fired := 0
	tm := NewTimer(clk, ListenerFunc(func(uint64) {
		mu.Lock()
		fired++
		mu.Unlock()
	}))
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; i < 100; i++ {
			mu.Lock()
			tm.Set(ktime.Setting{Enabled: true, Next: clk.Now().Add(-time.Second), Period: time.Millisecond}, nil)
			tm.Set(ktime.Setting{}, nil)
			mu.Unlock()
		}
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Set called the listener with its owner's lock held")
	}
	mu.Lock()
	defer mu.Unlock()
	t.Logf("%d firings from the kicks", fired)
}

// Observe keeps the greatest recent lower bound of the client's offset:
// never ahead of the client's clock, as close as the quickest message.
func TestClockObserve(t *testing.T) {
	const id = unix.CLOCK_MONOTONIC
	hour := int64(time.Hour)
	for _, tc := range []struct {
		name string
		// readings are client readings as offsets from the host clock
		// at the time of the call (the client is an hour ahead).
		readings []int64
		used     []bool
		// want is the estimate, within tolerance below it.
		want int64
	}{
		{"one sample", []int64{hour}, []bool{true}, hour},
		{"a later, tighter bound raises it", []int64{hour - int64(time.Millisecond), hour}, []bool{true, true}, hour},
		{"a looser bound does not lower it", []int64{hour, hour - int64(time.Millisecond)}, []bool{true, true}, hour},
		{"no reading", []int64{hour, -1 << 62}, []bool{true, false}, hour},
		{"an absurd reading", []int64{hour, 1 << 62}, []bool{true, false}, hour},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := NewClock(id, time.Duration(hour-int64(time.Second)))
			for i, r := range tc.readings {
				reading := HostNow(id) + r
				if r == -1<<62 {
					reading = 0
				}
				if r == 1<<62 {
					reading = 1<<63 - 1
				}
				if got := c.Observe(reading); got != tc.used[i] {
					t.Fatalf("Observe #%d used = %v, want %v", i, got, tc.used[i])
				}
			}
			got := int64(c.Offset())
			if got > tc.want || got < tc.want-int64(50*time.Millisecond) {
				t.Fatalf("offset %v, want at most and about %v", time.Duration(got), time.Duration(tc.want))
			}
			// Never ahead of the client: a client reading now is not
			// before the clock's.
			if now, client := c.Now().Nanoseconds(), HostNow(id)+tc.want; now > client {
				t.Fatalf("clock %d ns ahead of the client", now-client)
			}
		})
	}
}

// A sample ages out (here: pushed out by maxSamples newer ones), so the
// estimate follows a client clock that stepped back.
func TestClockObserveForgetsOldSamples(t *testing.T) {
	const id = unix.CLOCK_MONOTONIC
	c := NewClock(id, 0)
	c.Observe(HostNow(id) + int64(time.Hour))
	for i := 0; i < maxSamples; i++ {
		c.Observe(HostNow(id) + int64(time.Minute))
	}
	if got := c.Offset(); got > time.Minute || got < time.Minute-time.Second {
		t.Fatalf("offset %v after the client's clock stepped back to +1m", got)
	}
}
