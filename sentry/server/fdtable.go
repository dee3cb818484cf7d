package server

import (
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/kernel/fdtable"
)

// A process's fd table is package fdtable's.
type fdTable = fdtable.Table
