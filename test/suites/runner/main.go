// Command runner runs LTP's syscalls tests and pjdfstest, each test in a
// fresh process tree per runner (native, gVisor's runsc on systrap, and
// runsc-decoupled do), in a scratch directory and with a timeout, and writes
// per-test results, a pass-count table and a triage of failures grouped by
// their first error line. test/suites/run.sh builds the suites and calls it;
// with -report it only rebuilds table.md and triage.md from the results
// already in -out (so one column can be rerun alone).
//
// Results live under -out: <suite>/<runner>/results.tsv (test, directory,
// status, exit code, seconds) and <suite>/<runner>/<test>.out (the head and
// tail of the test's output), then table.md and triage.md.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"time"

	tu "github.com/runsc-decoupled/runsc-decoupled/test/testutil"
)

// runnerOrder is the column order of every table.
var runnerOrder = []string{"native", "runsc", "decoupled"}

type options struct {
	suites, runners []string
	jobs            int
	timeout         time.Duration // per LTP test
	pjdTimeout      time.Duration // per pjdfstest file: hundreds of assertions each
	out             string
	decoupled       string
	ltp, ltpSrc     string
	ltpDirs         string
	pjdfstest       string
	filter          string
	reportOnly      bool
	giveUpAfter     int
}

func main() {
	var o options
	var suites, runners string
	flag.StringVar(&suites, "suites", "ltp,pjdfstest", "comma-separated `suites` to run: ltp, pjdfstest")
	flag.StringVar(&runners, "runners", strings.Join(runnerOrder, ","), "comma-separated `runners`: native, runsc, decoupled")
	flag.IntVar(&o.jobs, "jobs", 2, "tests run at once")
	flag.DurationVar(&o.timeout, "timeout", 60*time.Second, "per-test timeout for LTP, after which the test's session is killed; LTP's library has its own (30s plus the test's runtime) and reports it, but a few stress tests run for minutes by design (bind06, fork13, writev03) and need more")
	flag.DurationVar(&o.pjdTimeout, "pjdfstest-timeout", 5*time.Minute, "per-file timeout for pjdfstest (chown/00.t alone runs over a thousand assertions)")
	flag.StringVar(&o.out, "out", "out", "results `directory`")
	flag.StringVar(&o.decoupled, "decoupled", "", "static runsc-decoupled `binary` (required for the decoupled runner)")
	flag.StringVar(&o.ltp, "ltp", "", "LTP install `prefix` (testcases/bin, runtest/syscalls)")
	flag.StringVar(&o.ltpSrc, "ltp-src", "", "LTP source `tree` the prefix was built from (maps programs to directories)")
	flag.StringVar(&o.ltpDirs, "ltp-dirs", "", "`file` naming the testcases/kernel/syscalls directories to run")
	flag.StringVar(&o.pjdfstest, "pjdfstest", "", "built pjdfstest source `tree`")
	flag.StringVar(&o.filter, "run", "", "only tests whose name contains one of these comma-separated `substrings`")
	flag.IntVar(&o.giveUpAfter, "give-up", 10, "stop running a suite under a runner after this many timeouts in a row (its remaining tests count as not run); 0: never")
	flag.BoolVar(&o.reportOnly, "report", false, "only rebuild table.md and triage.md from the results in -out")
	flag.Parse()
	o.suites, o.runners = splitList(suites), splitList(runners)
	if err := run(o); err != nil {
		fmt.Fprintf(os.Stderr, "suites: %v\n", err)
		os.Exit(1)
	}
}

// selected says whether a test name matches a -run filter.
func selected(name, filter string) bool {
	words := splitList(filter)
	for _, w := range words {
		if strings.Contains(name, w) {
			return true
		}
	}
	return len(words) == 0
}

func splitList(s string) []string {
	var l []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			l = append(l, f)
		}
	}
	return l
}

func run(o options) error {
	if o.jobs < 1 {
		return fmt.Errorf("-jobs must be at least 1, not %d", o.jobs)
	}
	if o.timeout <= 0 || o.pjdTimeout <= 0 {
		return fmt.Errorf("timeouts must be positive, not %v and %v", o.timeout, o.pjdTimeout)
	}
	out, err := filepath.Abs(o.out)
	if err != nil {
		return fmt.Errorf("results directory %q: %w", o.out, err)
	}
	if !o.reportOnly {
		if err := measure(o, out); err != nil {
			return err
		}
	}
	return report(out, os.Stdout)
}

func measure(o options, out string) error {
	runners := map[string]wrapper{}
	for _, name := range o.runners {
		w, err := newWrapper(name, o.decoupled)
		if err != nil {
			return err
		}
		runners[name] = w
	}
	var tests []test
	for _, s := range o.suites {
		var ts []test
		var err error
		switch s {
		case "ltp":
			ts, err = ltpTests(o.ltp, o.ltpSrc, o.ltpDirs)
		case "pjdfstest":
			ts, err = pjdfstestTests(o.pjdfstest)
		default:
			err = fmt.Errorf("unknown suite %q (want ltp or pjdfstest)", s)
		}
		if err != nil {
			return err
		}
		for _, t := range ts {
			if selected(t.name, o.filter) {
				tests = append(tests, t)
			}
		}
	}
	if len(tests) == 0 {
		return fmt.Errorf("no tests selected")
	}

	// Interleave runners test by test, so a burst of load from elsewhere
	// hits every column alike.
	type job struct {
		t      test
		runner string
	}
	var jobs []job
	for _, t := range tests {
		for _, r := range runnerOrder {
			if _, ok := runners[r]; ok {
				jobs = append(jobs, job{t, r})
			}
		}
	}
	stores := map[string]*store{}
	for _, s := range o.suites {
		for r := range runners {
			st, err := newStore(filepath.Join(out, s, r))
			if err != nil {
				return err
			}
			stores[s+"/"+r] = st
		}
	}
	// A rerun replaces what it reruns: a test it does not reach (give-up,
	// interrupt) shows as not run rather than with an older result.
	for _, t := range tests {
		for r := range runners {
			if err := stores[t.suite+"/"+r].forget(t.name); err != nil {
				return err
			}
		}
	}
	scratch, err := os.MkdirTemp("", "suites-scratch-")
	if err != nil {
		return fmt.Errorf("scratch directory: %w", err)
	}
	defer os.RemoveAll(scratch)
	// Tests that drop root (to nobody) still make their files below it.
	if err := os.Chmod(scratch, 0o755); err != nil {
		return fmt.Errorf("scratch directory: %w", err)
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	fmt.Fprintf(os.Stderr, "suites: %d tests x %d runners, %d at once, timeout %v (pjdfstest %v), %d cores, %s\n",
		len(tests), len(runners), o.jobs, o.timeout, o.pjdTimeout, runtime.NumCPU(), loadAverage())
	work := make(chan job)
	var mu sync.Mutex // orders progress lines and store writes; guards the counts below
	done := 0
	// Consecutive timeouts per suite/runner: when a runner hangs on every
	// test (a tool the suite runs in each test hangs), running the rest
	// would only measure the timeout.
	timeoutsInARow := map[string]int{}
	gaveUp := map[string]bool{}
	var wg sync.WaitGroup
	for range o.jobs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range work {
				key := j.t.suite + "/" + j.runner
				mu.Lock()
				skip := gaveUp[key]
				if skip {
					done++
					fmt.Fprintf(os.Stderr, "[%d/%d] %-9s %-9s %-28s not run (gave up)\n", done, len(jobs), j.t.suite, j.runner, j.t.name)
				}
				mu.Unlock()
				if skip {
					continue
				}
				timeout := o.timeout
				if j.t.suite == "pjdfstest" {
					timeout = o.pjdTimeout
				}
				res := execute(ctx, j.t, j.runner, runners[j.runner], scratch, timeout)
				mu.Lock()
				done++
				if res.status == statusTimeout {
					timeoutsInARow[key]++
					if o.giveUpAfter > 0 && timeoutsInARow[key] == o.giveUpAfter {
						gaveUp[key] = true
						fmt.Fprintf(os.Stderr, "suites: %s under %s: %d timeouts in a row, giving up on its remaining tests\n", j.t.suite, j.runner, o.giveUpAfter)
					}
				} else {
					timeoutsInARow[key] = 0
				}
				fmt.Fprintf(os.Stderr, "[%d/%d] %-9s %-9s %-28s %-7s %5.1fs\n", done, len(jobs), j.t.suite, j.runner, j.t.name, res.status, res.seconds)
				err := stores[j.t.suite+"/"+j.runner].add(res)
				mu.Unlock()
				if err != nil {
					fmt.Fprintf(os.Stderr, "suites: %v\n", err)
				}
			}
		}()
	}
feed:
	for _, j := range jobs {
		select {
		case work <- j:
		case <-ctx.Done():
			break feed
		}
	}
	close(work)
	wg.Wait()
	if ctx.Err() != nil {
		return fmt.Errorf("interrupted; results so far are in %s", out)
	}
	fmt.Fprintf(os.Stderr, "suites: done, %s\n", loadAverage())
	return nil
}

// wrapper turns a test's argv into the argv that runs it under one runner.
type wrapper func(argv []string) []string

func newWrapper(name, decoupled string) (wrapper, error) {
	switch name {
	case "native":
		return func(argv []string) []string { return argv }, nil
	case "runsc":
		bin, err := tu.RunscBinary()
		if err != nil {
			return nil, fmt.Errorf("runsc: %w", err)
		}
		return func(argv []string) []string { return tu.RunscArgv(bin, "systrap", argv...) }, nil
	case "decoupled":
		if decoupled == "" {
			return nil, fmt.Errorf("the decoupled runner needs -decoupled BINARY")
		}
		return func(argv []string) []string {
			// Writes reach the host, as with runsc --force-overlay=false
			// (do keeps them in memory by default).
			return append([]string{decoupled, "do", "--force-overlay=false", "--"}, argv...)
		}, nil
	}
	return nil, fmt.Errorf("unknown runner %q (want native, runsc or decoupled)", name)
}

func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "load unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "load unknown"
	}
	return "load " + strings.Join(f[:3], " ")
}
