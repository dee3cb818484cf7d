package vdsocall

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// call calls the C function at fn with (a, ts), on the goroutine's
// stack aligned as the System V ABI wants (the vDSO's functions use a
// few words of it).
//
//go:noescape
func call(fn, a uintptr, ts *unix.Timespec) int64

func addrOf(b []byte) uintptr { return uintptr(unsafe.Pointer(&b[0])) }
