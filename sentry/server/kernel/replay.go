package kernel

import (
	"github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/replay"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/statekey"
)

// ReplayObject is what has a replay record of its own: a kernel object
// (by pointer) or the key of one. ReplayOrder is where its record is
// derived within a message, and false for a nil pointer (nothing to
// report). The record of each is derived by the server's
// deriveRecordLocked.
type ReplayObject interface {
	ReplayOrder() (replay.Order, bool)
}

// The orders in which the touched objects' records are derived within
// one message (package replay): an fd's record touches its file the
// first time it is reported, a file's record its pipe. Deleted keys are
// reported first.
const (
	OrderDeleted replay.Order = iota
	OrderProc
	OrderThread
	OrderSlot
	OrderFS
	OrderSig
	OrderFile
	OrderPipe
	OrderMap
	OrderTimer
	OrderLocks
	OrderSysv
	OrderMount
	OrderPty
	OrderWBErr
	OrderMqueue
	OrderSysctl
)

// DeletedRec is the record saying key's object is gone.
func DeletedRec(key statekey.Key) *sentrypb.StateRecord {
	return &sentrypb.StateRecord{Key: key.String(), Deleted: true}
}
