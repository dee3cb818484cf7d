package procfs

import (
	"bytes"
	"strings"
	"testing"
)

// TestSmapsRollup sums smaps's counts over the mappings but the gate
// area's, Pss split by kind, under a header spanning them.
func TestSmapsRollup(t *testing.T) {
	src := newFake()
	src.maps = append(src.maps, Mapping{Start: 0xffffffffff600000, End: 0xffffffffff601000, Perms: 5, Path: "[vsyscall]"})
	src.smaps = map[uint64]string{
		0x400000:           "Rss: 8 kB\nPss: 8 kB\nPrivate_Clean: 8 kB\nReferenced: 8 kB\nAnonymous: 0 kB\nVmFlags: rd ex\n",
		0x7f0000000000:     "Rss: 4 kB\nPss: 4 kB\nPrivate_Dirty: 4 kB\nReferenced: 4 kB\n",
		0x500000:           "Rss: 8 kB\nPss: 8 kB\nPrivate_Dirty: 8 kB\nAnonymous: 8 kB\nLocked: 4 kB\nKernelPageSize: 4 kB\n",
		0xffffffffff600000: "Rss: 4 kB\nPss: 4 kB\n",
	}
	got, err := Generate(src, PID, "smaps_rollup", 1, 0)
	if err != nil {
		t.Fatal(err)
	}
	// The header padded to 73 columns, as maps's lines.
	want := "00400000-00502000 ---p 00000000 00:00 0 " + strings.Repeat(" ", 33) + `[rollup]
Rss:                  20 kB
Pss:                  20 kB
Pss_Dirty:            12 kB
Pss_Anon:              8 kB
Pss_File:              8 kB
Pss_Shmem:             4 kB
Shared_Clean:          0 kB
Shared_Dirty:          0 kB
Private_Clean:         8 kB
Private_Dirty:        12 kB
Referenced:           12 kB
Anonymous:             8 kB
LazyFree:              0 kB
AnonHugePages:         0 kB
ShmemPmdMapped:        0 kB
FilePmdMapped:         0 kB
Shared_Hugetlb:        0 kB
Private_Hugetlb:       0 kB
Swap:                  0 kB
SwapPss:               0 kB
Locked:                4 kB
`
	if string(got) != want {
		t.Errorf("got:\n%s\nwant:\n%s", got, want)
	}
	// No mappings (a zombie's): empty, as Linux's.
	src.maps = nil
	if got, err := Generate(src, PID, "smaps_rollup", 7, 0); err != nil || len(got) != 0 {
		t.Errorf("no mappings: %q, %v", got, err)
	}
}

// TestTaskFiles renders auxv, personality, wchan and schedstat, for the
// process and a thread.
func TestTaskFiles(t *testing.T) {
	src := newFake()
	auxv := []byte{6, 0, 0, 0, 0, 0, 0, 0, 0, 0x10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}
	src.procs[1].Personality, src.procs[1].Auxv = 0x40000, auxv
	src.procs[1].Threads[1].Syscall = []uint64{0, 3, 0x7f00, 7, 0, 0, 0, 0x7ffd10, 0x401234}
	src.procs[7] = &Process{PID: 7, Threads: []Thread{{TID: 8, Syscall: []uint64{^uint64(0), 0, 0, 0, 0, 0, 0, 0x10, 0x20}}}}
	for _, c := range []struct {
		scope    Scope
		path     string
		pid, tid int32
		want     string
	}{
		{PID, "auxv", 1, 0, string(auxv)},
		{Task, "auxv", 1, 5, string(auxv)},
		{PID, "personality", 1, 0, "00040000\n"},
		{Task, "personality", 1, 5, "00040000\n"},
		{PID, "wchan", 1, 0, "0"},
		{Task, "wchan", 1, 5, "0"},
		// The leader's time, then the thread's (2 s).
		{PID, "schedstat", 1, 0, "150000000 0 0\n"},
		{Task, "schedstat", 1, 5, "2000000000 0 0\n"},
		// The leader runs; thread 5 waits in read(3, 0x7f00, 7).
		{PID, "syscall", 1, 0, "running\n"},
		{Task, "syscall", 1, 5, "0 0x3 0x7f00 0x7 0x0 0x0 0x0 0x7ffd10 0x401234\n"},
		// Not in a system call: the pointers alone.
		{Task, "syscall", 7, 8, "-1 0x10 0x20\n"},
	} {
		got, err := Generate(src, c.scope, c.path, c.pid, c.tid)
		if err != nil || !bytes.Equal(got, []byte(c.want)) {
			t.Errorf("%s of %d/%d: %q, %v; want %q", c.path, c.pid, c.tid, got, err, c.want)
		}
	}
	for _, name := range []string{"auxv", "personality", "syscall"} {
		if e, ok := Lookup(PID, "", name); !ok || e.Mode != 0400 {
			t.Errorf("%s: %+v, %v; want mode 0400 as Linux's", name, e, ok)
		}
	}
}
