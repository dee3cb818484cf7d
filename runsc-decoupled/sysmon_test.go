package main

import (
	"os"
	"strconv"
	"strings"
	"testing"
)

// taskField returns field n (1-based, as proc(5) counts) of
// /proc/self/task/TID/stat.
func taskField(t *testing.T, tid, n int) int64 {
	t.Helper()
	b, err := os.ReadFile("/proc/self/task/" + strconv.Itoa(tid) + "/stat")
	if err != nil {
		t.Fatal(err)
	}
	// The command name (field 2) is in parentheses and may hold spaces.
	rest := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+2:]))
	v, err := strconv.ParseInt(rest[n-3], 10, 64)
	if err != nil {
		t.Fatalf("field %d of %d's stat: %v", n, tid, err)
	}
	return v
}

func slackOf(t *testing.T, tid int) string {
	t.Helper()
	b, err := os.ReadFile("/proc/" + strconv.Itoa(tid) + "/timerslack_ns")
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

// TestSlowSysmon: slowSysmon gives the runtime's first thread after the
// main one (the earliest started, sysmon) a millisecond of timer slack,
// and no other thread.
func TestSlowSysmon(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatal("needs root (CAP_SYS_NICE) to change another thread's timer slack")
	}
	tasks, err := os.ReadDir("/proc/self/task")
	if err != nil {
		t.Fatal(err)
	}
	pid := os.Getpid()
	before := map[int]string{}
	for _, e := range tasks {
		tid, _ := strconv.Atoi(e.Name())
		if slackOf(t, tid) == "1000000" { // an earlier run (-count)
			if err := os.WriteFile("/proc/"+e.Name()+"/timerslack_ns", []byte("50000"), 0); err != nil {
				t.Fatal(err)
			}
		}
		before[tid] = slackOf(t, tid)
	}
	if err := slowSysmon(); err != nil {
		t.Fatal(err)
	}
	var changed []int
	for tid, old := range before {
		if now := slackOf(t, tid); now != old {
			changed = append(changed, tid)
			if now != "1000000" {
				t.Errorf("thread %d: slack %s, want 1000000", tid, now)
			}
		}
	}
	if len(changed) != 1 {
		t.Fatalf("slack changed for threads %v, want one (sysmon)", changed)
	}
	// The earliest started thread besides the main one (starttime,
	// field 22; ties allowed, the runtime starts others later).
	first := taskField(t, changed[0], 22)
	for tid := range before {
		if tid != pid && tid != changed[0] && taskField(t, tid, 22) < first {
			t.Errorf("thread %d started before %d, the one given the slack", tid, changed[0])
		}
	}
	if changed[0] == pid {
		t.Errorf("the main thread was given the slack")
	}
}
