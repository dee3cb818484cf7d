package client

import (
	"fmt"
	"math/bits"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"gvisor.dev/gvisor/pkg/abi/linux"
	"gvisor.dev/gvisor/pkg/log"
	sentrytime "gvisor.dev/gvisor/pkg/sentry/time"
)

// The application's clocks (docs/ARCHITECTURE.md, "vDSO and the clock").
//
// CLOCK_REALTIME and CLOCK_MONOTONIC (and the clocks the vDSO serves as
// them: the _COARSE ones, CLOCK_BOOTTIME, CLOCK_MONOTONIC_RAW) are the
// TSC calibrated against the host's clocks by gVisor's
// pkg/sentry/time.CalibratedClocks, as in gVisor's sentry: the vDSO
// computes them in the application from the parameters in its [vvar]
// page (vdso.go), the client from the same parameters with the vDSO's
// arithmetic here (vdsoTime). One clock, two readers: a thread that
// mixes vDSO reads and trapped calls never sees the time go back, and a
// deadline on these clocks (sleepUntil, waitClock) is kept on the same
// clock, not the host's (which the calibrated clock tracks to within a
// microsecond or so, not exactly).
//
// The calibration begins when the client starts (Run, before its
// platform, memory file and server connection) and is ready at its
// second sample, firstUpdateAfter later or at the first vDSO page
// registered after that (the client's start-up until the application
// runs took 13-15 ms with a running server, ~200 ms starting its own):
// so the application's first clock reads do not trap. Until then, and
// after it resets (a host clock step, an overloaded host that cannot
// sample the clock cheaply), the parameters say "not ready": the vDSO
// makes the system call and the client reads the host's clock, the
// same fallback on both sides.

// appClock is the process's one calibrated clock: the calibration is of
// this machine's TSC, shared by every client in the process, and it
// writes the parameter page of each.
var appClock = newAppClocks()

// appClocks calibrates the TSC and publishes the parameters.
type appClocks struct {
	// clocks is the calibration (gVisor's CalibratedClocks; a test's
	// own); its own locks. Update is called only under mu.
	clocks sentrytime.Clocks

	// monoFloor is the highest CLOCK_MONOTONIC value handed out by the
	// client, and at each update the value under the parameters it
	// replaces: no later read answers less. It matters when the
	// calibration resets and the host's clock, which may be behind the
	// calibrated one (by ~0.1 us measured here), takes over, and for
	// the nanosecond the vDSO's rounding may differ across an update.
	// Atomic (raised by CAS).
	monoFloor atomic.Int64

	// start takes the first sample and starts the updater, once (begin).
	start sync.Once
	// first is when the first sample was taken. Set in start; read after
	// it.
	first time.Time

	mu sync.Mutex
	// pages are the parameter pages of the live clients, written at
	// every update. Under mu.
	pages map[*vdsoParamPage]struct{}
	// last are the parameters of the last update, written to a page
	// when it is registered. Under mu.
	last vdsoParams
	// cur are the parameters the client's clocks compute from: last,
	// stored while the pages' writes are under way (no vDSO read
	// uses the old ones after the client's clock moved on). Set under
	// mu; read atomically.
	cur atomic.Pointer[vdsoParams]
}

func newAppClocks() *appClocks {
	return &appClocks{
		clocks: sentrytime.NewCalibratedClocks(false),
		pages:  make(map[*vdsoParamPage]struct{}),
	}
}

// firstUpdateAfter is how long after the first sample the second is
// taken: then the calibration is ready. gVisor waits a whole update
// interval (1 s); a frequency measured over 5 ms was within 2 ppm of one
// measured over 2 s here (over 100 ms, 0.1 ppm), and the updates after
// it correct the error smoothly (gVisor's errorAdjust slews it over the
// next interval, never steps the clock).
const firstUpdateAfter = 5 * time.Millisecond

// refineAfter is when, after the first sample, the third is taken, which
// measures the frequency over 100 ms before the updates every second.
const refineAfter = 100 * time.Millisecond

// begin takes the calibration's first sample and starts the updater,
// once a process: at the client's start, so that the calibration is
// ready before the application runs.
func (k *appClocks) begin() {
	k.start.Do(func() {
		k.firstSample()
		go k.updater(time.Sleep)
	})
}

// firstSample takes the calibration's first sample (in start).
func (k *appClocks) firstSample() {
	k.first = time.Now()
	k.update(true)
}

// register makes p one of the pages written at each update, and writes
// the current parameters to it. If the calibration is not ready but its
// first sample is firstUpdateAfter old (the updater's goroutine late on
// a loaded host), it takes the second sample now: the page is
// registered just before the application first runs.
func (k *appClocks) register(p *vdsoParamPage) error {
	k.begin()
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.last.monotonicReady == 0 && time.Since(k.first) >= firstUpdateAfter {
		k.updateLocked(false)
	}
	if err := p.write(func() vdsoParams { return k.last }); err != nil {
		return err
	}
	k.pages[p] = struct{}{}
	return nil
}

// unregister stops writing p (before its memory file is destroyed).
func (k *appClocks) unregister(p *vdsoParamPage) {
	k.mu.Lock()
	delete(k.pages, p)
	k.mu.Unlock()
}

// updater takes the second sample firstUpdateAfter after the first, the
// third at refineAfter, then refreshes the calibration about once a
// second for the life of the process (gVisor parks its updater while no
// task runs; a client lives as long as its application, so this one
// never parks). sleep is time.Sleep (a test's records the schedule).
func (k *appClocks) updater(sleep func(time.Duration)) {
	sleep(firstUpdateAfter)
	k.update(false)
	sleep(refineAfter - firstUpdateAfter)
	for {
		k.update(false)
		sleep(sentrytime.ApproxUpdateInterval)
	}
}

// update samples the host clocks, recalibrates and writes the new
// parameters to every page, inside each page's write (odd sequence
// count), so that no vDSO read mixes old and new parameters or uses
// the old ones after the client's clock moved to the new.
func (k *appClocks) update(parked bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.updateLocked(parked)
}

// updateLocked is update under k.mu.
func (k *appClocks) updateLocked(parked bool) {
	var begun []*vdsoParamPage
	for p := range k.pages {
		if err := p.begin(); err != nil {
			// The page is not written again: its vDSO readers spin
			// or read stale parameters; say so.
			log.Warningf("vdso parameter page: %v", err)
			continue
		}
		begun = append(begun, p)
	}
	// Every vDSO reader now retries until the write ends: whatever it
	// returned before is at most the clock's value now.
	if now, err := k.monotonicUnfloored(); err == nil {
		k.raiseFloor(now)
	}
	res := k.clocks.Update(parked)
	var p vdsoParams
	if res.MonotonicOk {
		p.monotonicReady = 1
		p.monotonicBaseCycles = int64(res.Monotonic.BaseCycles)
		p.monotonicBaseRef = int64(res.Monotonic.BaseRef)
		p.monotonicFrequency = res.Monotonic.Frequency
	}
	if res.RealtimeOk {
		p.realtimeReady = 1
		p.realtimeBaseCycles = int64(res.Realtime.BaseCycles)
		p.realtimeBaseRef = int64(res.Realtime.BaseRef)
		p.realtimeFrequency = res.Realtime.Frequency
	}
	// CLOCK_MONOTONIC_RAW is CLOCK_MONOTONIC, in the vDSO as in
	// clockNow.
	p.monotonicRawAlias = 1
	k.last = p
	k.cur.Store(&p)
	for _, pg := range begun {
		if err := pg.end(p); err != nil {
			log.Warningf("vdso parameter page: %v", err)
		}
	}
}

// raiseFloor makes v the floor of CLOCK_MONOTONIC if it is higher.
func (k *appClocks) raiseFloor(v int64) int64 {
	for {
		f := k.monoFloor.Load()
		if v <= f {
			return f
		}
		if k.monoFloor.CompareAndSwap(f, v) {
			return v
		}
	}
}

// vdsoTime is the time the vDSO computes from a clock's parameters at
// TSC value now (vdso_time.cc, as compiled in vdsodata: the frequency
// turned into a 32.32 fixed-point multiplier, the cycles since the base
// multiplied by it, none before the base). gVisor's
// Parameters.ComputeTime divides exactly and so answers up to a few
// nanoseconds more a second after an update; the client answers what
// the vDSO answers.
func vdsoTime(baseCycles, baseRef int64, freq uint64, now int64) int64 {
	if freq == 0 || now <= baseCycles {
		return baseRef
	}
	mult := uint64(time.Second) << 32 / freq
	hi, lo := bits.Mul64(uint64(now-baseCycles), mult)
	return baseRef + int64(hi<<32|lo>>32)
}

// hostClock reads the host's clock id: the vDSO's fallback, the system
// call, reaches the client, which answers so.
func hostClock(id int32) (int64, error) {
	var ts unix.Timespec
	if err := unix.ClockGettime(id, &ts); err != nil {
		return 0, fmt.Errorf("clock_gettime(%d): %w", id, err)
	}
	return ts.Nano(), nil
}

// monotonicUnfloored is CLOCK_MONOTONIC as the vDSO computes it (the
// host's while the parameters are not ready).
func (k *appClocks) monotonicUnfloored() (int64, error) {
	if p := k.cur.Load(); p != nil && p.monotonicReady != 0 {
		return vdsoTime(p.monotonicBaseCycles, p.monotonicBaseRef, p.monotonicFrequency, int64(sentrytime.Rdtsc())), nil
	}
	return hostClock(unix.CLOCK_MONOTONIC)
}

// monotonic is CLOCK_MONOTONIC: the vDSO's, never below a value handed
// out before.
func (k *appClocks) monotonic() (int64, error) {
	v, err := k.monotonicUnfloored()
	if err != nil {
		return 0, err
	}
	return k.raiseFloor(v), nil
}

// realtime is CLOCK_REALTIME: the vDSO's (it may go back, as the
// host's does when set).
func (k *appClocks) realtime() (int64, error) {
	if p := k.cur.Load(); p != nil && p.realtimeReady != 0 {
		return vdsoTime(p.realtimeBaseCycles, p.realtimeBaseRef, p.realtimeFrequency, int64(sentrytime.Rdtsc())), nil
	}
	return hostClock(unix.CLOCK_REALTIME)
}

// calibrated reports whether clk is one of the clocks the vDSO serves
// from the parameter page (and clockNow from the calibration).
func calibrated(clk int32) bool {
	switch clk {
	case linux.CLOCK_REALTIME, linux.CLOCK_REALTIME_COARSE, linux.CLOCK_REALTIME_ALARM, 11, /* CLOCK_TAI */
		linux.CLOCK_MONOTONIC, linux.CLOCK_MONOTONIC_COARSE, linux.CLOCK_MONOTONIC_RAW,
		linux.CLOCK_BOOTTIME, linux.CLOCK_BOOTTIME_ALARM:
		return true
	}
	return false
}

// clockNow reads clock clk as the application sees it.
func clockNow(clk int32) (time.Duration, bool) { return appClock.now(clk) }

// hostDeadline is appClock.hostDeadline.
func hostDeadline(clk int32, at time.Duration) time.Time { return appClock.hostDeadline(clk, at) }

// clockReached is appClock.reached.
func clockReached(clk int32, at time.Duration) bool { return appClock.reached(clk, at) }

// waitClock is appClock.waitClock.
func waitClock(clk int32, at time.Duration) { appClock.waitClock(clk, at) }

// now reads clock clk.
func (k *appClocks) now(clk int32) (time.Duration, bool) {
	switch clk {
	case linux.CLOCK_REALTIME, linux.CLOCK_REALTIME_COARSE, linux.CLOCK_REALTIME_ALARM, 11 /* CLOCK_TAI */ :
		v, err := k.realtime()
		return time.Duration(v), err == nil
	case linux.CLOCK_MONOTONIC, linux.CLOCK_MONOTONIC_COARSE, linux.CLOCK_MONOTONIC_RAW,
		// gVisor's vDSO serves CLOCK_BOOTTIME as CLOCK_MONOTONIC (the
		// sandbox never suspends); so does the client, for one answer.
		linux.CLOCK_BOOTTIME, linux.CLOCK_BOOTTIME_ALARM:
		v, err := k.monotonic()
		return time.Duration(v), err == nil
	case linux.CLOCK_PROCESS_CPUTIME_ID, linux.CLOCK_THREAD_CPUTIME_ID:
		// The application's threads run in stub processes; the client's
		// own CPU time is the closest cheap approximation.
		v, err := hostClock(unix.CLOCK_PROCESS_CPUTIME_ID)
		return time.Duration(v), err == nil
	default:
		return 0, false
	}
}

// hostDeadline is the host time at which clock clk should read at: the
// Go timer a wait arms. The calibrated clock does not run exactly at
// the host's rate, so a wait that must not end early on clk checks clk
// when the timer fires (reached, waitClock).
func (k *appClocks) hostDeadline(clk int32, at time.Duration) time.Time {
	hostNow := time.Now()
	now, _ := k.now(clk)
	return hostNow.Add(at - now)
}

// reached reports whether a wait until at on clk, whose host timer
// fired, is over: clk reads at least at. A CPU-time clock's wait is
// over when its timer fires (its sleeps are wall time here).
func (k *appClocks) reached(clk int32, at time.Duration) bool {
	if !calibrated(clk) {
		return true
	}
	now, ok := k.now(clk)
	return !ok || now >= at
}

// waitClock returns once clock clk reads at least at, after a wait
// whose host timer fired: at most the time the calibrated clock is
// behind the host's (a fraction of a microsecond here).
func (k *appClocks) waitClock(clk int32, at time.Duration) {
	for !k.reached(clk, at) {
		now, _ := k.now(clk)
		time.Sleep(at - now)
	}
}
