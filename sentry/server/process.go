package server

import (
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/kernel"
)

// The kernel's processes and threads are package kernel's (Process,
// Thread): their fields are protected by clientState.Mu.
type (
	process = kernel.Process
	thread  = kernel.Thread
)
