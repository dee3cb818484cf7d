package cpulist

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// MaxCPU bounds the CPU numbers a list may name (one beyond the
// largest): unix.CPUSet's size.
const MaxCPU = len(unix.CPUSet{}) * 64

// Parse parses a CPU list as taskset -c and cgroup cpusets write
// it ("0-3,6", "1"): comma-separated CPU numbers and inclusive ranges.
func Parse(s string) (unix.CPUSet, error) {
	var set unix.CPUSet
	if strings.TrimSpace(s) == "" {
		return set, errors.New("empty CPU list")
	}
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		lo, hi, isRange := strings.Cut(part, "-")
		first, err := parseCPU(lo)
		if err != nil {
			return set, fmt.Errorf("CPU list %q: %w", s, err)
		}
		last := first
		if isRange {
			if last, err = parseCPU(hi); err != nil {
				return set, fmt.Errorf("CPU list %q: %w", s, err)
			}
			if last < first {
				return set, fmt.Errorf("CPU list %q: range %q ends before it starts", s, part)
			}
		}
		for cpu := first; cpu <= last; cpu++ {
			set.Set(cpu)
		}
	}
	return set, nil
}

func parseCPU(s string) (int, error) {
	n, err := strconv.ParseUint(strings.TrimSpace(s), 10, 32)
	if err != nil {
		return 0, fmt.Errorf("%q is not a CPU number", s)
	}
	if n >= uint64(MaxCPU) {
		return 0, fmt.Errorf("CPU %d is beyond the largest this build handles (%d)", n, MaxCPU-1)
	}
	return int(n), nil
}

// Format writes set as Parse reads it, with ranges.
func Format(set unix.CPUSet) string {
	var parts []string
	for cpu := 0; cpu < MaxCPU; cpu++ {
		if !set.IsSet(cpu) {
			continue
		}
		last := cpu
		for last+1 < MaxCPU && set.IsSet(last+1) {
			last++
		}
		if last == cpu {
			parts = append(parts, strconv.Itoa(cpu))
		} else {
			parts = append(parts, fmt.Sprintf("%d-%d", cpu, last))
		}
		cpu = last
	}
	return strings.Join(parts, ",")
}
