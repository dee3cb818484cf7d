package server

import (
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/syscalls"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/sysabi"
)

// A call's arguments, as the handlers still here name them (package
// syscalls' args.go; they go as the handlers move there).
var (
	argInt        = syscalls.ArgInt
	pathArg       = syscalls.PathArg
	startDir      = syscalls.StartDir
	lookupAt      = syscalls.LookupAt
	createAt      = syscalls.CreateAt
	resolveCreate = syscalls.ResolveCreate
)

// The I/O, stat and attribute calls' helpers that moved (package
// syscalls' read_write.go, stat.go, attr.go and args.go), as the posted
// calls' count, the leases and the path handlers still here name them.
var (
	iovecs      = syscalls.Iovecs
	statOf      = syscalls.StatOf
	toLinuxStat = syscalls.ToLinuxStat
	toStatx     = syscalls.ToStatx
	targetAttrs = syscalls.TargetAttrs
)

// ioctl's handler (package syscalls' ioctl.go), as the table still here
// names it; the name goes as the table moves.

// maxRW bounds one read or write (the client clamps writes the same way).
const maxRW = sysabi.MaxBuffer
