package client

import (
	"context"
	"encoding/binary"
	"runtime"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"gvisor.dev/gvisor/pkg/hostarch"
	"gvisor.dev/gvisor/pkg/safemem"
	sentrytime "gvisor.dev/gvisor/pkg/sentry/time"

	"github.com/runsc-decoupled/runsc-decoupled/platform"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/client/internal/vdsocall"
)

// newTestVDSO is a vDSO in a memory file of its own, released when the
// test ends.
func newTestVDSO(t *testing.T) *vdso {
	t.Helper()
	mf, err := platform.NewMemoryFile()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(mf.Destroy)
	v, err := newVDSO(mf)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(v.release)
	return v
}

// newTestPage is a parameter page in a memory file of its own.
func newTestPage(t *testing.T) *vdsoParamPage {
	t.Helper()
	v := newTestVDSO(t)
	// newVDSO registers with appClock; the tests use their own clocks.
	appClock.unregister(v.params)
	b, err := v.params.block()
	if err != nil {
		t.Fatal(err)
	}
	if seq := loadSeq(b); seq != 2 {
		t.Fatalf("count %d after the page's first write, want 2 (odd while it is written)", seq)
	}
	return v.params
}

// readPage reads the page as the vDSO does (vdso_time.cc): the sequence
// count, even, then the parameters, then the count again, unchanged.
func readPage(t *testing.T, p *vdsoParamPage) (seq uint64, words [13]uint64) {
	t.Helper()
	b, err := p.block()
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; ; i++ {
		s1 := loadSeq(b)
		if s1%2 != 0 {
			if i > 1e6 {
				t.Fatalf("count %d stays odd: a write never ended", s1)
			}
			continue
		}
		var buf [vdsoParamsSize]byte
		if _, err := safemem.Copy(safemem.BlockFromSafeSlice(buf[:]), b.DropFirst(8).TakeFirst(vdsoParamsSize)); err != nil {
			t.Fatal(err)
		}
		s2 := loadSeq(b)
		if s1 != s2 {
			continue
		}
		for i := range words {
			words[i] = binary.LittleEndian.Uint64(buf[i*8:])
		}
		return s1, words
	}
}

// loadSeq is the page's count, read atomically (the vDSO reads it while
// the client changes it).
func loadSeq(b safemem.Block) uint64 {
	return atomic.LoadUint64((*uint64)(unsafe.Pointer(&b.ToSlice()[0])))
}

// fakeClocks are clocks an hour ahead of the host's monotonic clock
// (tests): the client's clock must be theirs, not the host's.
type fakeClocks struct {
	ready bool
	p     sentrytime.Parameters
}

func newFakeClocks(t *testing.T) *fakeClocks {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		t.Fatal(err)
	}
	return &fakeClocks{p: sentrytime.Parameters{
		BaseCycles: sentrytime.Rdtsc(),
		BaseRef:    sentrytime.ReferenceNS(ts.Nano() + int64(time.Hour)),
		Frequency:  2_000_000_000,
	}}
}

func (f *fakeClocks) Update(parked bool) sentrytime.UpdateResult {
	return sentrytime.UpdateResult{Monotonic: f.p, MonotonicOk: f.ready, Realtime: f.p, RealtimeOk: f.ready}
}

func (f *fakeClocks) GetTime(c sentrytime.ClockID) (int64, error) {
	if !f.ready {
		var ts unix.Timespec
		err := unix.ClockGettime(int32(c), &ts)
		return ts.Nano(), err
	}
	v, _ := f.p.ComputeTime(sentrytime.Rdtsc())
	return v, nil
}

func (f *fakeClocks) MonotonicRawEnabled() bool { return false }

// pageParams are the monotonic parameters of the page's words.
func pageParams(w [13]uint64) sentrytime.Parameters {
	return sentrytime.Parameters{BaseCycles: sentrytime.TSCValue(w[1]), BaseRef: sentrytime.ReferenceNS(w[2]), Frequency: w[3]}
}

// checkPageTime reads the client's CLOCK_MONOTONIC bracketed by two TSC
// reads, 20,000 times: each must be the page's time at a TSC value
// between them (the same parameters, the same arithmetic).
func checkPageTime(t *testing.T, k *appClocks, p sentrytime.Parameters) {
	t.Helper()
	outside := 0
	for i := 0; i < 20000; i++ {
		c1 := sentrytime.Rdtsc()
		a, err := k.monotonic()
		c2 := sentrytime.Rdtsc()
		if err != nil {
			t.Fatal(err)
		}
		lo := vdsoTime(int64(p.BaseCycles), int64(p.BaseRef), p.Frequency, int64(c1))
		hi := vdsoTime(int64(p.BaseCycles), int64(p.BaseRef), p.Frequency, int64(c2))
		if a < lo || a > hi {
			if outside++; outside <= 3 {
				t.Logf("client %d, page [%d, %d]", a, lo, hi)
			}
		}
	}
	if outside != 0 {
		t.Errorf("%d of 20,000 client reads were not the page's time", outside)
	}
}

// registerTest makes page one of k's, written now.
func registerTest(t *testing.T, k *appClocks, page *vdsoParamPage) {
	t.Helper()
	k.mu.Lock()
	defer k.mu.Unlock()
	if err := page.write(func() vdsoParams { return k.last }); err != nil {
		t.Fatal(err)
	}
	k.pages[page] = struct{}{}
}

// TestClockParamPage: while the clocks are not ready the page says so
// (the vDSO then makes the system call) and the client's clock answers
// from the host's; once ready, an update writes their parameters in a
// whole write (the count advanced by two) and the client's clock is the
// page's time, not the host's (the clocks here are an hour ahead of it).
func TestClockParamPage(t *testing.T) {
	f := newFakeClocks(t)
	k := newAppClocks()
	k.clocks = f
	k.update(true)
	page := newTestPage(t)
	registerTest(t, k, page)

	seq0, w := readPage(t, page)
	if w[0] != 0 || w[4] != 0 {
		t.Fatalf("not ready: monotonic ready %d, realtime ready %d in the page; want 0, 0", w[0], w[4])
	}
	if w[8] != 1 {
		t.Errorf("monotonicRawAlias %d, want 1 (CLOCK_MONOTONIC_RAW is CLOCK_MONOTONIC)", w[8])
	}
	var ts unix.Timespec
	unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts)
	if v, err := k.monotonic(); err != nil || v > ts.Nano()+int64(time.Minute) {
		t.Fatalf("not ready: monotonic %d, %v; want the host's, about %d", v, err, ts.Nano())
	}

	f.ready = true
	k.update(false)
	seq, w := readPage(t, page)
	if seq != seq0+2 || w[0] != 1 || w[4] != 1 || pageParams(w) != f.p {
		t.Fatalf("ready: seq %d, ready %d/%d, params %+v; want %d, ready, %+v", seq, w[0], w[4], pageParams(w), seq0+2, f.p)
	}
	checkPageTime(t, k, pageParams(w))
}

// TestClockCalibrated: with gVisor's calibration, the page is ready
// after two samples and the client's clock is its time.
func TestClockCalibrated(t *testing.T) {
	k := newAppClocks()
	k.update(true)
	page := newTestPage(t)
	registerTest(t, k, page)
	if _, w := readPage(t, page); w[0] != 0 {
		t.Fatalf("ready after one sample")
	}
	time.Sleep(10 * time.Millisecond)
	k.update(false)
	_, w := readPage(t, page)
	if w[0] != 1 || w[4] != 1 || w[3] == 0 || w[7] == 0 {
		t.Fatalf("after the second sample: ready %d/%d, frequencies %d/%d; want ready, non-zero", w[0], w[4], w[3], w[7])
	}
	checkPageTime(t, k, pageParams(w))
}

// TestClockFloor: a CLOCK_MONOTONIC read never answers less than one
// before it, even when the calibration resets to the host's clock
// behind it (the floor an update raises to the clock's value when its
// write begins).
func TestClockFloor(t *testing.T) {
	k := newAppClocks()
	v, _ := k.monotonic()
	k.raiseFloor(v + int64(time.Hour))
	if got, _ := k.monotonic(); got < v+int64(time.Hour) {
		t.Errorf("monotonic %d under the floor %d", got, v+int64(time.Hour))
	}
}

// TestVDSOImage: gVisor's vDSO image is mapped as its PT_LOAD segments
// say (its text executable) with [vvar] just below, and the mappings
// are named as Linux names them.
func TestVDSOImage(t *testing.T) {
	v := newTestVDSO(t)
	if got := v.image.MappedName(nil); got != "[vdso]" {
		t.Errorf("image named %q, want [vdso]", got)
	}
	if got := v.vvar.MappedName(nil); got != "[vvar]" {
		t.Errorf("parameter page named %q, want [vvar]", got)
	}
	if v.vvar.Length() != hostarch.PageSize {
		t.Errorf("parameter page of %d bytes, want a page", v.vvar.Length())
	}
	exec := 0
	for _, p := range v.loads {
		if p.Flags&1 != 0 {
			exec++
		}
	}
	if exec == 0 {
		t.Errorf("no executable PT_LOAD in %d", len(v.loads))
	}
}

// TestVDSOArithmetic runs the vDSO's own clock_gettime (gVisor's image,
// mapped in this process over a page the test writes) and checks that
// the client computes what it computes: each call, bracketed by two TSC
// reads, answers the client's time (vdsoTime) at a TSC value between
// them. The parameters make the rounding show: a base 2^46 cycles back
// and a frequency that is no round number put gVisor's exact
// Parameters.ComputeTime microseconds away from the vDSO's. Not ready,
// it makes the system call: the host's clock here.
func TestVDSOArithmetic(t *testing.T) {
	img, err := vdsocall.Map()
	if err != nil {
		t.Fatal(err)
	}
	defer img.Unmap()
	page := &vdsoParamPage{}
	p := vdsoParams{
		monotonicReady:      1,
		monotonicBaseCycles: int64(sentrytime.Rdtsc()) - 1<<46,
		monotonicBaseRef:    12345678901234,
		monotonicFrequency:  999_999_937,
	}
	p.marshal(page.buf[:])
	copy(img.Params[8:], page.buf[:])

	outside := 0
	for i := 0; i < 20000; i++ {
		c1 := int64(sentrytime.Rdtsc())
		ts, r := img.ClockGettime(unix.CLOCK_MONOTONIC)
		c2 := int64(sentrytime.Rdtsc())
		if r != 0 {
			t.Fatalf("vdso clock_gettime: %d", r)
		}
		lo := vdsoTime(p.monotonicBaseCycles, p.monotonicBaseRef, p.monotonicFrequency, c1)
		hi := vdsoTime(p.monotonicBaseCycles, p.monotonicBaseRef, p.monotonicFrequency, c2)
		if v := ts.Nano(); v < lo || v > hi {
			if outside++; outside <= 3 {
				exact, _ := sentrytime.Parameters{BaseCycles: sentrytime.TSCValue(p.monotonicBaseCycles), BaseRef: sentrytime.ReferenceNS(p.monotonicBaseRef), Frequency: p.monotonicFrequency}.ComputeTime(sentrytime.TSCValue(c1))
				t.Logf("vdso %d, client [%d, %d] (exact division at the first: %d)", v, lo, hi, exact)
			}
		}
	}
	if outside != 0 {
		t.Errorf("%d of 20,000 vDSO reads were not the client's arithmetic", outside)
	}

	// Not ready: the vDSO's system call (the host's clock here).
	clear(img.Params)
	h0, _ := hostClock(unix.CLOCK_MONOTONIC)
	ts, r := img.ClockGettime(unix.CLOCK_MONOTONIC)
	h1, _ := hostClock(unix.CLOCK_MONOTONIC)
	if r != 0 || ts.Nano() < h0 || ts.Nano() > h1 {
		t.Errorf("not ready: vdso %d (%d), want the host's clock in [%d, %d]", ts.Nano(), r, h0, h1)
	}
}

// TestClockDeadline: a wait on the application's clock arms a host
// timer, and the calibrated clock does not run at exactly the host's
// rate; when it runs slower, the timer fires before the clock reads the
// deadline. Here it runs at about a tenth of the host's rate (a
// frequency ten times the TSC's): the host time hostDeadline computes comes early,
// and waitClock (what sleepUntil and the futex waits check with
// reached) returns only once the clock reads the deadline.
func TestClockDeadline(t *testing.T) {
	// The TSC's rate, roughly.
	h0, _ := hostClock(unix.CLOCK_MONOTONIC)
	c0 := sentrytime.Rdtsc()
	time.Sleep(20 * time.Millisecond)
	h1, _ := hostClock(unix.CLOCK_MONOTONIC)
	c1 := sentrytime.Rdtsc()
	hz := uint64(float64(c1-c0) / float64(h1-h0) * 1e9)

	f := newFakeClocks(t)
	f.p.Frequency = 10 * hz
	f.ready = true
	k := newAppClocks()
	k.clocks = f
	k.update(false)

	early, late := 0, 0
	for i := 0; i < 20; i++ {
		now, _ := k.now(1 /* CLOCK_MONOTONIC */)
		at := now + time.Millisecond
		time.Sleep(time.Until(k.hostDeadline(1, at)))
		if k.reached(1, at) {
			late++ // the host was slow to wake us: no early timer this time
		} else {
			early++
		}
		k.waitClock(1, at)
		if got, _ := k.now(1); got < at {
			t.Errorf("waitClock returned at %d, before the deadline %d", got, at)
		}
	}
	if early == 0 {
		t.Errorf("the host timer never came before the slow clock's deadline (%d late): the test does not test", late)
	}
}

// TestClockReadyAtRegister: a page registered firstUpdateAfter or more
// after the calibration's first sample is ready at once (register takes
// the second sample if the updater has not), one registered sooner is
// not (no frequency measured over a few microseconds). The clocks are
// gVisor's calibration; no updater runs.
func TestClockReadyAtRegister(t *testing.T) {
	for _, tc := range []struct {
		name  string
		after time.Duration
		ready uint64
	}{
		{"at once", 0, 0},
		{"after firstUpdateAfter", firstUpdateAfter, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// A register meant to come at once may come
			// firstUpdateAfter late on a loaded host (the thread
			// preempted): then it may take the second sample, and
			// the case is tried again.
			for try := 0; ; try++ {
				page := newTestPage(t)
				k := newAppClocks()
				k.start.Do(k.firstSample)
				time.Sleep(tc.after)
				if err := k.register(page); err != nil {
					t.Fatal(err)
				}
				if tc.after < firstUpdateAfter && time.Since(k.first) >= firstUpdateAfter && try < 10 {
					continue
				}
				if _, w := readPage(t, page); w[0] != tc.ready || w[4] != tc.ready {
					t.Fatalf("registered %v after the first sample: ready %d/%d in the page; want %d", tc.after, w[0], w[4], tc.ready)
				}
				return
			}
		})
	}
}

// countingClocks are fakeClocks that count their updates.
type countingClocks struct {
	*fakeClocks
	updates atomic.Int32
}

func (c *countingClocks) Update(parked bool) sentrytime.UpdateResult {
	c.updates.Add(1)
	return c.fakeClocks.Update(parked)
}

// TestClockUpdaterSchedule: the updater takes the second sample
// firstUpdateAfter after the first, the third at refineAfter, then one
// each update interval.
func TestClockUpdaterSchedule(t *testing.T) {
	k := newAppClocks()
	c := &countingClocks{fakeClocks: newFakeClocks(t)}
	k.clocks = c
	// Each sleep is reported, then waits until the test has looked.
	sleeps, wake := make(chan time.Duration), make(chan struct{})
	stop := make(chan struct{})
	t.Cleanup(func() { close(stop) })
	go k.updater(func(d time.Duration) {
		select {
		case sleeps <- d:
		case <-stop:
			runtime.Goexit()
		}
		select {
		case <-wake:
		case <-stop:
			runtime.Goexit()
		}
	})
	want := []time.Duration{firstUpdateAfter, refineAfter - firstUpdateAfter, sentrytime.ApproxUpdateInterval, sentrytime.ApproxUpdateInterval}
	for i, w := range want {
		d := <-sleeps
		if n := c.updates.Load(); d != w || n != int32(i) {
			t.Fatalf("sleep %d: %v after %d updates; want %v after %d", i, d, n, w, i)
		}
		wake <- struct{}{}
	}
}

// TestRunBeginsCalibration: the client's start takes the calibration's
// first sample before anything else (here a start that fails at once),
// so that it is ready by the time the application runs.
func TestRunBeginsCalibration(t *testing.T) {
	saved := appClock
	appClock = newAppClocks()
	t.Cleanup(func() { appClock = saved })
	if _, err := Run(context.Background(), Config{}); err == nil {
		t.Fatal("Run without argv: no error")
	}
	if appClock.first.IsZero() {
		t.Error("Run did not take the calibration's first sample")
	}
}
