package server

import (
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/kernel"
)

// fsContext is a process's cwd and umask (package kernel's FSContext).
type fsContext = kernel.FSContext

// The kernel's processes and threads are package kernel's (Process,
// Thread): their fields are protected by clientState.Mu.
type (
	process = kernel.Process
	thread  = kernel.Thread
)
