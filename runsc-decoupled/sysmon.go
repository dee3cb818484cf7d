package main

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// sysmonSlack is the timer slack the daemons give the Go runtime's
// monitor thread (sysmon).
//
// Sysmon sleeps 20 µs at a time whenever it has just retaken a P from a
// blocked system call or been woken from its deep sleep (a goroutine
// entering or leaving a system call while every P was idle), and only
// doubles its sleep after 50 idle rounds: a daemon woken every few
// hundred microseconds by a call channel never lets it slow down, and
// each of its wake-ups is a context switch (a quarter of either daemon's
// CPU during a tar, docs/BENCHMARKS.md). With this slack the kernel may
// end each of those sleeps up to a millisecond late, coalesced with
// other timers: sysmon's duties (retaking a P from a system call that
// blocks, preempting a goroutine that runs for 10 ms, polling the
// network when no P does) still happen, a little later.
const sysmonSlack = time.Millisecond

// slowSysmon gives this process's sysmon thread sysmonSlack. Sysmon is
// the first thread the Go runtime starts after the main thread (before
// any package's init runs), so it is the thread whose id follows the
// process's id most closely (ids wrap at pid_max). It must run before
// the daemon drops CAP_SYS_NICE, which changing another thread's slack
// needs.
func slowSysmon() error {
	self, err := os.Readlink("/proc/self")
	if err != nil {
		return fmt.Errorf("sysmon's timer slack: %w", err)
	}
	pid, err := strconv.Atoi(self)
	if err != nil {
		return fmt.Errorf("sysmon's timer slack: /proc/self is %q", self)
	}
	tasks, err := os.ReadDir("/proc/self/task")
	if err != nil {
		return fmt.Errorf("sysmon's timer slack: %w", err)
	}
	pidMax := 1 << 22 // the kernel's limit; pid_max is at most this
	if b, err := os.ReadFile("/proc/sys/kernel/pid_max"); err == nil {
		if n, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && n > 0 {
			pidMax = n
		}
	}
	sysmon, best := 0, pidMax
	for _, t := range tasks {
		tid, err := strconv.Atoi(t.Name())
		if err != nil || tid == pid {
			continue
		}
		if d := ((tid-pid)%pidMax + pidMax) % pidMax; d < best {
			sysmon, best = tid, d
		}
	}
	if sysmon == 0 {
		return fmt.Errorf("sysmon's timer slack: no thread besides the main one")
	}
	slack := strconv.FormatInt(sysmonSlack.Nanoseconds(), 10)
	if err := os.WriteFile("/proc/"+strconv.Itoa(sysmon)+"/timerslack_ns", []byte(slack), 0); err != nil {
		return fmt.Errorf("sysmon's timer slack: %w", err)
	}
	return nil
}
