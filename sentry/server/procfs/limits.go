package procfs

import (
	"fmt"
	"strings"
)

// rlimitNames are the rows of /proc/<pid>/limits, in Linux's RLIMIT_*
// order (fs/proc/base.c lnames): a name and a unit ("" for none).
var rlimitNames = [...]struct{ name, unit string }{
	{"Max cpu time", "seconds"},
	{"Max file size", "bytes"},
	{"Max data size", "bytes"},
	{"Max stack size", "bytes"},
	{"Max core file size", "bytes"},
	{"Max resident set", "bytes"},
	{"Max processes", "processes"},
	{"Max open files", "files"},
	{"Max locked memory", "bytes"},
	{"Max address space", "bytes"},
	{"Max file locks", "locks"},
	{"Max pending signals", "signals"},
	{"Max msgqueue size", "bytes"},
	{"Max nice priority", ""},
	{"Max realtime priority", ""},
	{"Max realtime timeout", "us"},
}

// rlimInfinity is RLIM_INFINITY.
const rlimInfinity = ^uint64(0)

// genLimits follows fs/proc/base.c:proc_pid_limits: the process's soft
// and hard limits (the client's), "unlimited" for RLIM_INFINITY. A
// zombie has none left to show (its client process is gone): the
// header alone.
func genLimits(src Source, pid, _ int32) ([]byte, error) {
	p, err := src.Process(pid, true)
	if err != nil {
		return nil, err
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%-25s %-20s %-20s %-10s\n", "Limit", "Soft Limit", "Hard Limit", "Units")
	if len(p.Limits) < 2*len(rlimitNames) {
		return []byte(b.String()), nil
	}
	for i, l := range rlimitNames {
		fmt.Fprintf(&b, "%-25s %-20s %-20s ", l.name, rlimitString(p.Limits[2*i]), rlimitString(p.Limits[2*i+1]))
		if l.unit != "" {
			fmt.Fprintf(&b, "%-10s", l.unit)
		}
		b.WriteByte('\n')
	}
	return []byte(b.String()), nil
}

func rlimitString(v uint64) string {
	if v == rlimInfinity {
		return "unlimited"
	}
	return fmt.Sprint(v)
}
