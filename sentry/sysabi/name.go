package sysabi

import (
	"strconv"
	"sync"
)

// Name returns the name of system call sysno ("syscall_N" if unknown).
func Name(sysno uintptr) string {
	if n, ok := names[sysno]; ok {
		return n
	}
	return "syscall_" + strconv.FormatUint(uint64(sysno), 10)
}

var (
	numbersOnce sync.Once
	numbers     map[string]uintptr
)

// Number returns the amd64 number of the system call named name.
func Number(name string) (uintptr, bool) {
	numbersOnce.Do(func() {
		numbers = make(map[string]uintptr, len(names))
		for n, s := range names {
			numbers[s] = n
		}
	})
	n, ok := numbers[name]
	return n, ok
}
