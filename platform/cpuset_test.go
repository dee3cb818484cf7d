package platform

import (
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/runsc-decoupled/runsc-decoupled/platform/cpulist"
)

func one(cpu int) unix.CPUSet {
	var set unix.CPUSet
	set.Set(cpu)
	return set
}

func TestConfineCPUsRejectsForeignCPU(t *testing.T) {
	var allowed unix.CPUSet
	if err := unix.SchedGetaffinity(0, &allowed); err != nil {
		t.Fatal(err)
	}
	foreign := -1
	for cpu := 0; cpu < cpulist.MaxCPU; cpu++ {
		if !allowed.IsSet(cpu) {
			foreign = cpu
			break
		}
	}
	if foreign < 0 {
		t.Fatal("this process may run on every CPU a CPUSet holds")
	}
	err := ConfineCPUs(one(foreign))
	if err == nil || !strings.Contains(err.Error(), "not among this process's CPUs") {
		t.Fatalf("ConfineCPUs(%d) = %v, want an error naming the CPU", foreign, err)
	}
	var after unix.CPUSet
	if err := unix.SchedGetaffinity(0, &after); err != nil || after != allowed {
		t.Fatalf("affinity after a refused ConfineCPUs: %s (%v), want %s", cpulist.Format(after), err, cpulist.Format(allowed))
	}
}
