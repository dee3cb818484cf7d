package server

import "github.com/runsc-decoupled/runsc-decoupled/sentry/server/syscalls"

// Pseudo-terminals' ioctls (package syscalls' pty.go), as the ioctl
// handler still here names them; the name goes as it moves.
var ptyIoctl = syscalls.PtyIoctl
