package server

import "github.com/runsc-decoupled/runsc-decoupled/sentry/server/syscalls"

// A call's arguments, as the handlers still here name them (package
// syscalls' args.go; they go as the handlers move there).
var (
	argInt   = syscalls.ArgInt
	pathArg  = syscalls.PathArg
	startDir = syscalls.StartDir
	lookupAt = syscalls.LookupAt
	createAt = syscalls.CreateAt
	fileArg  = syscalls.FileArg
	argID    = syscalls.ArgID

	resolveCreate = syscalls.ResolveCreate
)
