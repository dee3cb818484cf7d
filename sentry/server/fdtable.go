package server

import (
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/filelock"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/kernel/fdtable"
)

// A process's fd table is package fdtable's.
type (
	fdTable = fdtable.Table
	fdEntry = fdtable.Entry
)

// newFDTable returns an empty table of the client whose replay tracker
// is trk and lock table locks (either nil in tests without one).
func newFDTable(trk *stateTracker, locks *filelock.Table[*fdTable, *file]) *fdTable {
	var tt fdtable.Tracker
	if trk != nil {
		tt = trk
	}
	return fdtable.New(tt, locks, lockIno)
}
