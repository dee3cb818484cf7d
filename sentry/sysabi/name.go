package sysabi

import "strconv"

// Name returns the name of system call sysno ("syscall_N" if unknown).
func Name(sysno uintptr) string {
	if n, ok := names[sysno]; ok {
		return n
	}
	return "syscall_" + strconv.FormatUint(uint64(sysno), 10)
}
