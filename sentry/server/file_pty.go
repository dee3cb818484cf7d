package server

import "github.com/runsc-decoupled/runsc-decoupled/sentry/server/syscalls"

// Pseudo-terminals (package kernel's pty.go, package syscalls' pty.go),
// as the open and ioctl handlers still here name them; the names go as
// the handlers move.
var (
	openPty  = (*syscallCtx).OpenPty
	ptyIoctl = syscalls.PtyIoctl
)
