package server

import (
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/syscalls"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/sysabi"
)

// A call's arguments (package syscalls' args.go), as the leases name
// them.
var (
	argInt   = syscalls.ArgInt
	pathArg  = syscalls.PathArg
	lookupAt = syscalls.LookupAt
)

// The I/O and stat calls' helpers (package syscalls' read_write.go and
// stat.go), as the posted calls' count and the leases name them.
var (
	iovecs      = syscalls.Iovecs
	statOf      = syscalls.StatOf
	toLinuxStat = syscalls.ToLinuxStat
	toStatx     = syscalls.ToStatx
)

// maxRW bounds one read or write (the client clamps writes the same way).
const maxRW = sysabi.MaxBuffer
