// Package cpulist reads and writes CPU lists as taskset -c and cgroup
// cpusets write them ("0-3,6"), as unix.CPUSet values: do --cpuset-cpus
// and platform.ConfineCPUs use it.
//
// It depends only on golang.org/x/sys/unix: no gVisor package, so that
// its fuzz target builds with the fuzzer's instrumentation (gVisor's
// ring0, which package platform pulls in, overflows its nosplit stack
// limits then). Nothing of this project's may be imported here.
package cpulist
