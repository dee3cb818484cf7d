package client

import (
	"runtime"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
	gvplatform "gvisor.dev/gvisor/pkg/sentry/platform"

	"github.com/runsc-decoupled/runsc-decoupled/platform"
)

// CPU placement: a sandbox of one thread whose remote sentry shares the
// host runs on one CPU while that makes it faster (docs/ARCHITECTURE.md,
// "CPU placement"; docs/BENCHMARKS.md, "cpuplace").
//
// A trap is two hand-offs, the stub's thread to the task goroutine's and
// back. With CPUs to spare, systrap's fast path spins them away; when the
// server and gofer on the same host want the other CPU, the fast path
// turns itself off and the two threads, left to the host's scheduler,
// sit on different CPUs: each hand-off is then a cross-CPU wake-up, dear
// in a virtual machine. Confined to one CPU (every thread of the client,
// GOMAXPROCS 1, the stubs of its address spaces), a hand-off is a
// context switch instead: file work such as tar ran a third faster, but a
// call the client answers alone, which the fast path serves best, runs at
// half speed, and threads that could run at once share one CPU.
//
// So the client measures: while at most one of the sandbox's threads
// runs (the others wait) and it forwards calls (placeForwardShare of its
// traps, after placeWarmup windows of them), it runs placeProbeConfined
// windows confined, then floats; it keeps floating once placeFloatWins
// floating windows in a row made nearly as many traps as the best
// confined one (confinement must be placeGain better to be kept), and
// confines again when they have not by the end of the floating
// measurement. The mode chosen is kept for placeStay windows, doubling
// the stay each time the choice repeats (at most placeStayMax), then
// measured again. Two threads that may run (seen when a thread starts,
// or at placeMultiEnds window ends in a row) end any confinement at
// once; so do more than placeLull windows in a row without forwarded
// calls.
//
// Each mode's first windows after a change are not what the mode does:
// the first floating window runs where the host's scheduler left the
// threads confined, so it is not measured; and systrap's fast path,
// failing while confined, backs off about as long as the confinement
// lasted, up to 512 of its 400 µs periods, so the floating measurement
// lasts that long too (placeBackoff). Measured one window each, a loop of
// posted calls measured its floating window without the fast path, chose
// confinement at half its speed and, confined, kept choosing it
// (docs/BENCHMARKS.md, "umaskmodes"); the unmeasured window and
// placeFloatWins keep it floating. The first measurement floats as long
// as any other after two confined windows: waiting out the longest
// back-off there, as before, floated file work for 11 of the first 17
// windows, a third of a short walk's run (docs/BENCHMARKS.md,
// "placefirst").

const (
	// placeWindow is a measuring window: long enough for hundreds of
	// traps of file work, short against a stay.
	placeWindow = 25 * time.Millisecond
	// placeGain is how much more traps a window confinement must make to
	// be kept.
	placeGain = 1.10
	// placeProbeConfined is the windows a confined measurement takes
	// (the best counts): a confinement settles within one.
	placeProbeConfined = 2
	// placeBackoff is systrap's fast path's longest back-off in windows
	// (512 periods of 400 µs): a floating measurement lasts long enough
	// for the fast path to come back after a confinement.
	placeBackoff = 8
	// placeFloatWins is how many floating windows in a row must make
	// nearly as many traps as the best confined one for the client to
	// float: file work's rate varies from window to window, and the best
	// of several would often be a lucky one.
	placeFloatWins = 2
	// placeStay and placeStayMax bound the windows a choice is kept
	// before the next measurement.
	placeStay    = 16
	placeStayMax = 512
	// placeWarmup is how many windows of forwarded work come before the
	// first measurement: the start of a program (exec, its mappings,
	// the loader) traps at another rate than what follows, and a window
	// of it measured floating would favor confinement.
	placeWarmup = 4
	// placeForwardShare is the share of a window's traps that must be
	// forwarded for the daemons to count as busy: a loop the client
	// answers itself (opens and closes taken back unsent, stats from
	// leases) leaves the fast path the second CPU.
	placeForwardShare = 0.05
	// placeLull is how many windows in a row without forwarded calls a
	// confinement outlasts: a walk's windows answered from listings and
	// leases come between its forwarded ones, and floating for one of
	// them threw away the measurement (and the fast path was backed off
	// anyway).
	placeLull = 2
	// placeMultiEnds is how many window ends in a row must see two
	// threads that may run for the client to float (placeChooser.ended).
	placeMultiEnds = 2
)

// placePhase is where placeChooser is in its cycle.
type placePhase int

const (
	// placeMeasureConfined measures windows confined (the phase after
	// the warm-up).
	placeMeasureConfined placePhase = iota
	// placeMeasureFloat measures windows floating, until placeFloatWins
	// in a row beat the confined measurement or floatLen have not.
	placeMeasureFloat
	// placeKeep keeps the chosen mode for stay more windows.
	placeKeep
)

// placeChooser decides, window by window, whether the client runs
// confined. It holds no lock and touches nothing outside itself: its
// owner (cpuPlacer) serializes its calls.
type placeChooser struct {
	phase    placePhase
	confined bool
	// confinedRate is the best window of the current confined
	// measurement; measured counts the windows of the current
	// measurement; floatWins the floating windows in a row that made
	// nearly as many traps.
	confinedRate float64
	measured     int
	floatWins    int
	// confinedRun is the windows the client has run confined in a row
	// (0 while it floats); floatLen bounds the current floating
	// measurement.
	confinedRun, floatLen int
	// stay is what is left of the current keep; stayLen its length;
	// chose the last measurement's choice, probed whether there was one.
	stay, stayLen int
	chose, probed bool
	// warm counts the windows of forwarded work of one thread seen, up
	// to placeWarmup.
	warm int
	// lull counts the windows in a row without forwarded calls the
	// current confinement outlasted.
	lull int
	// multi counts the windows in a row that ended with two threads
	// that may run (ended).
	multi int
}

// ended takes a window that ended as window does, but for a window's
// end that sees two threads that may run after one that did not, which
// counts as one thread's: a thread woken for a moment (a pipe's reader
// between its blocked reads, `find | wc -l`: 4–9 of 63–99 windows' ends)
// is seen at a window's end now and then, and each sighting threw the
// measurement away and floated for the next one's dozen windows;
// threads that run at once are seen at the next window's end too (and a
// thread's start gives the CPUs back at once: taskStarted).
func (c *placeChooser) ended(traps float64, forwarded, single bool) bool {
	if single {
		c.multi = 0
	} else if c.multi++; c.multi < placeMultiEnds {
		single = true
	}
	return c.window(traps, forwarded, single)
}

// window takes the window that just ended: its traps (scaled to
// placeWindow), whether it forwarded calls to the server, whether the
// sandbox ran one thread throughout. It returns whether the next window
// runs confined.
func (c *placeChooser) window(traps float64, forwarded, single bool) bool {
	if c.stayLen == 0 {
		c.stayLen = placeStay
	}
	if c.confined {
		c.confinedRun++
	} else {
		c.confinedRun = 0
	}
	if forwarded {
		c.lull = 0
	} else if single && c.confined && c.lull < placeLull {
		c.lull++
		return true
	}
	if !single || !forwarded {
		// Threads that may run at once, or no work for the daemons (the
		// fast path has the second CPU): float, and measure anew once
		// this passes.
		c.remeasure()
		c.confined = false
		return false
	}
	if c.warm < placeWarmup {
		c.warm++
		return false
	}
	switch c.phase {
	case placeMeasureConfined:
		if c.confined {
			c.confinedRate = max(c.confinedRate, traps)
			c.measured++
		}
		if c.measured < placeProbeConfined {
			c.confined = true
			break
		}
		c.phase, c.confined, c.measured = placeMeasureFloat, false, 0
		// systrap's fast path, failing while confined, backs off about as
		// long as the client ran confined (at most placeBackoff windows).
		c.floatLen = 1 + placeFloatWins + min(c.confinedRun, placeBackoff)
	case placeMeasureFloat:
		// The first floating window is not measured: the host's scheduler
		// leaves the threads where they ran confined for a while.
		c.measured++
		if c.measured > 1 && traps*placeGain >= c.confinedRate {
			c.floatWins++
		} else {
			c.floatWins = 0
		}
		switch {
		case c.floatWins >= placeFloatWins:
			c.choose(false)
		case c.measured >= c.floatLen:
			c.choose(true)
		}
	case placeKeep:
		if c.stay--; c.stay <= 0 {
			c.remeasure()
			c.confined = true
		}
	}
	return c.confined
}

// remeasure starts a measurement with its confined windows.
func (c *placeChooser) remeasure() {
	c.phase, c.confinedRate, c.measured, c.floatWins = placeMeasureConfined, 0, 0, 0
}

// choose ends a measurement with its choice.
func (c *placeChooser) choose(confine bool) {
	if c.probed && confine == c.chose {
		c.stayLen = min(2*c.stayLen, placeStayMax)
	} else {
		c.stayLen = placeStay
	}
	c.chose, c.probed = confine, true
	c.phase, c.confined, c.stay = placeKeep, confine, c.stayLen
}

// cpuPlacer applies placeChooser's choice to the client and its stubs.
type cpuPlacer struct {
	c *client
	// all and procs are the CPUs and GOMAXPROCS the client started with,
	// given back on a release; one is the CPU it is confined to. Set at
	// start, read-only after.
	all   unix.CPUSet
	procs int
	one   unix.CPUSet

	// traps counts traps since the window began; next is when the
	// window ends (cpuNow). Updated by any task without mu.
	traps atomic.Uint64
	next  atomic.Int64
	// gen changes with every confinement and release: a task whose stubs
	// were set at another gen sets them again (task.placedGen, placedMM),
	// unless placed says its address space's were.
	gen atomic.Uint64

	// mu serializes window ends and mode changes.
	mu sync.Mutex
	// chooser, confined, start and calls (the forwarded calls counted at
	// the window's start) are under mu.
	chooser  placeChooser
	confined bool
	start    int64
	calls    uint64
	// placed is, by address space, the gen its stubs' CPUs were set at
	// (by a mode change, or by the first of its tasks to trap after
	// one). Under mu; at most maxPlaced entries.
	placed map[gvplatform.AddressSpace]uint64

	// confinements and releases count mode changes (end-of-run line).
	confinements, releases atomic.Uint64
	// windows counts the windows ended, confinedWindows those run
	// confined, multiWindows those that ended with two threads that
	// may run, multiFloats those of them that made the client float
	// (placeChooser.ended) (end-of-run line: how much of a run was
	// placed).
	windows, confinedWindows, multiWindows, multiFloats atomic.Uint64
}

// newCPUPlacer returns the placer of a client on systrap whose server is
// on this host, nil when there is nothing to place: fewer than two CPUs,
// another platform, a remote server.
func newCPUPlacer(c *client, local bool) *cpuPlacer {
	if !local || !(c.cfg.Platform == "" || c.cfg.Platform == platform.Systrap) {
		return nil
	}
	p := &cpuPlacer{c: c}
	if err := unix.SchedGetaffinity(0, &p.all); err != nil || p.all.Count() < 2 {
		return nil
	}
	p.procs = runtime.GOMAXPROCS(0)
	// The CPU the client starts on: clients started at once spread as the
	// host's scheduler spread them.
	cpu, err := getcpu()
	if err != nil || !p.all.IsSet(cpu) {
		return nil
	}
	p.one.Set(cpu)
	p.start = cpuNow()
	p.next.Store(p.start + int64(placeWindow))
	return p
}

// afterTrap runs on the task goroutine at each trap: it counts the trap,
// ends the window when due, and sets the CPUs of t's stubs when they were
// set for another mode.
func (p *cpuPlacer) afterTrap(t *task) {
	p.traps.Add(1)
	now := cpuNow()
	if now >= p.next.Load() {
		p.endWindow(now)
	}
	if t.placedGen != p.gen.Load() || t.placedMM != t.mm {
		p.placeStubs(t)
	}
}

// endWindow feeds the window that ended to the chooser and applies its
// choice.
func (p *cpuPlacer) endWindow(now int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if now < p.next.Load() {
		return // another task ended it
	}
	calls := p.c.conn.waitedCalls.Load() + p.c.conn.postedCalls.Load()
	traps := float64(p.traps.Swap(0))
	// Posted calls taken back unsent lower the count: a loop of them
	// nets nothing, as it costs the server nothing.
	forwarded := calls > p.calls && float64(calls-p.calls) >= placeForwardShare*traps
	// Traps a window's length: a window ends at the first trap after
	// placeWindow, later when the application waited or computed.
	rate := traps * float64(placeWindow) / float64(max(now-p.start, 1))
	single := p.single()
	p.windows.Add(1)
	if p.confined {
		p.confinedWindows.Add(1)
	}
	if !single {
		p.multiWindows.Add(1)
	}
	confine := p.chooser.ended(rate, forwarded, single)
	if p.chooser.multi >= placeMultiEnds {
		p.multiFloats.Add(1)
	}
	p.c.log.Trace("CPU placement window", "traps", int(rate), "forwarded", forwarded, "single", single, "confine_next", confine)
	p.calls, p.start = calls, now
	p.next.Store(now + int64(placeWindow))
	if confine != p.confined {
		p.setLocked(confine)
	}
}

// single says whether at most one of the sandbox's threads may run now:
// the others wait, for a forwarded call's reply (a shell in wait4 while
// its command runs) or locally.
func (p *cpuPlacer) single() bool {
	p.c.mu.Lock()
	defer p.c.mu.Unlock()
	running := 0
	for _, t := range p.c.tasks {
		t.mu.Lock()
		if t.state == stateApp || t.state == stateKernel {
			running++
		}
		t.mu.Unlock()
	}
	return running <= 1
}

// taskStarted gives the CPUs back at once when a thread starts beside
// another that may run (a clone, a fork whose parent does not wait), and
// starts a new window.
func (p *cpuPlacer) taskStarted() {
	if p.single() {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.chooser.window(0, false, false)
	if p.confined {
		p.setLocked(false)
	}
	p.traps.Store(0)
	p.start = cpuNow()
	p.next.Store(p.start + int64(placeWindow))
}

// setLocked confines or releases the client and the stubs of its tasks.
func (p *cpuPlacer) setLocked(confine bool) {
	set, procs := p.all, p.procs
	if confine {
		set, procs = p.one, 1
	}
	stubs := p.stubPIDs()
	var pids []int
	for _, more := range stubs {
		pids = append(pids, more...)
	}
	clear(p.placed)
	gen := p.gen.Add(1)
	if err := platform.SetCPUs(set, procs, pids); err != nil {
		p.c.log.Warn("CPU placement failed; the client keeps every CPU", "confine", confine, "err", err)
		if err := platform.SetCPUs(p.all, p.procs, nil); err != nil {
			p.c.log.Warn("CPU placement: the client's CPUs could not be given back", "err", err)
		}
		// The tasks set their stubs again at their next trap.
		p.confined = false
		return
	}
	if p.placed == nil {
		p.placed = make(map[gvplatform.AddressSpace]uint64, len(stubs))
	}
	for as := range stubs {
		p.placed[as] = gen
	}
	p.confined = confine
	if confine {
		p.confinements.Add(1)
	} else {
		p.releases.Add(1)
	}
}

// maxPlaced bounds cpuPlacer.placed between mode changes (a loop of
// fork and exec makes an address space each time): beyond it the map
// starts over, and an address space's stubs may be set once more.
const maxPlaced = 1024

// stubPIDs lists the stub processes of the tasks' address spaces, by
// address space.
func (p *cpuPlacer) stubPIDs() map[gvplatform.AddressSpace][]int {
	p.c.mu.Lock()
	ts := make([]*task, 0, len(p.c.tasks))
	for _, t := range p.c.tasks {
		ts = append(ts, t)
	}
	p.c.mu.Unlock()
	stubs := make(map[gvplatform.AddressSpace][]int)
	for _, t := range ts {
		t.mu.Lock()
		m := t.mm
		t.mu.Unlock()
		if m == nil {
			continue
		}
		if as := m.AddressSpace(); as != nil {
			if _, seen := stubs[as]; !seen {
				stubs[as], _ = platform.StubPIDs(as)
			}
		}
	}
	return stubs
}

// placeStubs sets the CPUs of t's stubs for the current mode and notes
// the gen and address space they were set for (an address space made
// after the last change, by exec or fork, has the CPUs its stubs had).
func (p *cpuPlacer) placeStubs(t *task) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if t.mm == nil {
		return
	}
	as := t.mm.AddressSpace()
	if as == nil {
		return
	}
	gen := p.gen.Load()
	if p.placed[as] != gen {
		set := p.all
		if p.confined {
			set = p.one
		}
		if pids, ok := platform.StubPIDs(as); ok {
			if err := platform.SetStubCPUs(pids, set); err != nil {
				p.c.log.Debug("CPU placement of a stub failed", "tid", t.tid, "err", err)
			}
		}
		if p.placed == nil || len(p.placed) >= maxPlaced {
			p.placed = make(map[gvplatform.AddressSpace]uint64)
		}
		p.placed[as] = gen
	}
	t.placedGen, t.placedMM = gen, t.mm
}

// getcpu returns the CPU the calling thread runs on.
func getcpu() (int, error) {
	var cpu uint32
	if _, _, errno := unix.RawSyscall(unix.SYS_GETCPU, uintptr(unsafe.Pointer(&cpu)), 0, 0); errno != 0 {
		return 0, errno
	}
	return int(cpu), nil
}

// confinementCount and releaseCount are the mode changes so far (0 for
// a nil placer).
func (p *cpuPlacer) confinementCount() uint64 {
	if p == nil {
		return 0
	}
	return p.confinements.Load()
}

func (p *cpuPlacer) releaseCount() uint64 {
	if p == nil {
		return 0
	}
	return p.releases.Load()
}

// windowCounts are the windows ended so far, those run confined, those
// that ended with two threads that may run and those of them that made
// the client float (0 for a nil placer).
func (p *cpuPlacer) windowCounts() (windows, confined, multi, multiFloats uint64) {
	if p == nil {
		return 0, 0, 0, 0
	}
	return p.windows.Load(), p.confinedWindows.Load(), p.multiWindows.Load(), p.multiFloats.Load()
}
