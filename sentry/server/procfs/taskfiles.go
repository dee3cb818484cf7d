package procfs

import (
	"bufio"
	"fmt"
	"strconv"
	"strings"
)

// genAuxv is the auxiliary vector of the process's last exec, as the
// client's exec built it (binary key and value pairs, AT_NULL's
// included; a zombie's is empty, its address space gone).
func genAuxv(src Source, pid, _ int32) ([]byte, error) {
	p, err := src.Process(pid, true)
	if err != nil {
		return nil, err
	}
	return p.Auxv, nil
}

// genPersonality follows fs/proc/base.c proc_pid_personality.
func genPersonality(src Source, pid, _ int32) ([]byte, error) {
	p, err := src.Process(pid, true)
	if err != nil {
		return nil, err
	}
	return []byte(fmt.Sprintf("%08x\n", p.Personality)), nil
}

// genWchan is "0", no newline: what Linux's proc_pid_wchan shows for a
// running thread or one whose wait it cannot name (the sandbox's
// threads wait in the client and the server, not in a kernel function).
func genWchan(Source, int32, int32) ([]byte, error) { return []byte("0"), nil }

// genSchedstat follows fs/proc/base.c proc_pid_schedstat: the thread's
// time on a CPU in nanoseconds (the client's measure, user and system),
// its time waiting for one and its number of timeslices (neither kept:
// 0). The process's file is its leader thread's, as Linux's.
func genSchedstat(src Source, pid, tid int32) ([]byte, error) {
	t, err := fileThread(src, pid, tid)
	if err != nil {
		return nil, err
	}
	return []byte(fmt.Sprintf("%d 0 0\n", int64(t.UTime+t.STime))), nil
}

// fileThread returns the thread a per-thread file of process pid is of:
// task/<tid>'s, or for the process's own file (tid 0) its leader's, as
// Linux's; a thread not listed (gone meanwhile) is the zero Thread.
func fileThread(src Source, pid, tid int32) (Thread, error) {
	p, err := src.Process(pid, true)
	if err != nil {
		return Thread{}, err
	}
	id := tid
	if id == 0 {
		id = pid
	}
	for _, t := range p.Threads {
		if t.TID == id {
			return t, nil
		}
	}
	return Thread{}, nil
}

// genSyscall follows fs/proc/base.c proc_pid_syscall: "running", or the
// call the thread waits in (its number, six arguments, stack and
// instruction pointers in hex; a negative number, not a system call,
// only the pointers). The process's file is its leader thread's.
func genSyscall(src Source, pid, tid int32) ([]byte, error) {
	t, err := fileThread(src, pid, tid)
	if err != nil {
		return nil, err
	}
	sc := t.Syscall
	switch {
	case len(sc) != 9:
		return []byte("running\n"), nil
	case int64(sc[0]) < 0:
		return []byte(fmt.Sprintf("%d 0x%x 0x%x\n", int64(sc[0]), sc[7], sc[8])), nil
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%d", sc[0])
	for _, v := range sc[1:] {
		fmt.Fprintf(&b, " 0x%x", v)
	}
	b.WriteByte('\n')
	return []byte(b.String()), nil
}

// rollupKeys are smaps_rollup's lines in Linux 6.1's order
// (fs/proc/task_mmu.c __show_smap in rollup mode).
var rollupKeys = []string{"Rss", "Pss", "Pss_Dirty", "Pss_Anon", "Pss_File", "Pss_Shmem", "Shared_Clean",
	"Shared_Dirty", "Private_Clean", "Private_Dirty", "Referenced", "Anonymous", "LazyFree", "AnonHugePages",
	"ShmemPmdMapped", "FilePmdMapped", "Shared_Hugetlb", "Private_Hugetlb", "Swap", "SwapPss", "Locked"}

// genSmapsRollup follows fs/proc/task_mmu.c show_smaps_rollup: smaps's
// counts summed over the mappings, under a header spanning them. The
// client's smaps counts PSS as RSS, so Pss_Dirty is the dirty pages,
// Pss_Anon the anonymous ones, Pss_Shmem the rest of shared memory
// (shared mappings of no file, memfd and System V segments) and
// Pss_File the rest of every other mapping.
func genSmapsRollup(src Source, pid, _ int32) ([]byte, error) {
	all, err := src.Maps(pid, true)
	if err != nil {
		return nil, err
	}
	var ms []Mapping
	for _, m := range all {
		// [vsyscall] is the gate area, which Linux shows in maps
		// but which is no mapping of the address space.
		if m.Path != "[vsyscall]" {
			ms = append(ms, m)
		}
	}
	if len(ms) == 0 {
		return nil, nil // a zombie's: no address space, as on Linux
	}
	sum := map[string]uint64{}
	for _, m := range ms {
		kb := smapsCounts(m.Smaps)
		for k, v := range kb {
			sum[k] += v
		}
		sum["Pss_Dirty"] += kb["Shared_Dirty"] + kb["Private_Dirty"]
		sum["Pss_Anon"] += kb["Anonymous"]
		rest := kb["Pss"] - min(kb["Pss"], kb["Anonymous"])
		if shmem(m) {
			sum["Pss_Shmem"] += rest
		} else {
			sum["Pss_File"] += rest
		}
	}
	var b strings.Builder
	n, _ := fmt.Fprintf(&b, "%08x-%08x ---p 00000000 00:00 0 ", ms[0].Start, ms[len(ms)-1].End)
	b.WriteString(strings.Repeat(" ", max(73-n, 0)) + "[rollup]\n")
	for _, k := range rollupKeys {
		// A 16-column label (at least one blank after the colon:
		// Private_Hugetlb's takes a column of its number's 8).
		label := fmt.Sprintf("%-16s", k+": ")
		fmt.Fprintf(&b, "%s%*d kB\n", label, 24-len(label), sum[k])
	}
	return []byte(b.String()), nil
}

// smapsCounts parses a mapping's smaps lines' "Name: N kB" counts.
func smapsCounts(lines string) map[string]uint64 {
	out := map[string]uint64{}
	sc := bufio.NewScanner(strings.NewReader(lines))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) != 3 || f[2] != "kB" || !strings.HasSuffix(f[0], ":") {
			continue
		}
		if v, err := strconv.ParseUint(f[1], 10, 64); err == nil {
			out[strings.TrimSuffix(f[0], ":")] = v
		}
	}
	return out
}

// shmem says m is shared memory Linux's shmem backs: a shared mapping
// of no file (MAP_SHARED|MAP_ANONYMOUS, shown as /dev/zero), a memfd or
// a System V segment.
func shmem(m Mapping) bool {
	p := m.Path
	return (m.Shared && (p == "" || strings.HasPrefix(p, "/dev/zero"))) ||
		strings.HasPrefix(p, "/memfd:") || strings.HasPrefix(p, "/SYSV")
}
