package server

import "github.com/runsc-decoupled/runsc-decoupled/sentry/server/syscalls"

// syscallTable is package syscalls' table (syscalls/table.go), which
// dispatch reads.
var syscallTable = syscalls.Table
