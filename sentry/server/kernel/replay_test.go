package kernel

import (
	"testing"

	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/ksignal"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/replay"
)

func TestReplayOrder(t *testing.T) {
	for _, tc := range []struct {
		name   string
		obj    ReplayObject
		order  replay.Order
		report bool
	}{
		{"fs context", &FSContext{Refs: 1, Umask: 022}, OrderFS, true},
		{"nil fs context", (*FSContext)(nil), OrderFS, false},
		{"signal table", SigTable{Handlers: &ksignal.Handlers{}}, OrderSig, true},
		{"no signal table", SigTable{}, OrderSig, false},
		{"process", &Process{PID: 1}, OrderProc, true},
		{"nil process", (*Process)(nil), OrderProc, false},
		{"thread", &Thread{TID: 1}, OrderThread, true},
		{"nil thread", (*Thread)(nil), OrderThread, false},
		{"timer", &AppTimer{ID: 1}, OrderTimer, true},
		{"nil timer", (*AppTimer)(nil), OrderTimer, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			order, report := tc.obj.ReplayOrder()
			if order != tc.order || report != tc.report {
				t.Fatalf("ReplayOrder() = %d, %v; want %d, %v", order, report, tc.order, tc.report)
			}
		})
	}
}

// TestReplayOrderDependencies checks the orders the derivation relies
// on: a record derived later in a message may be touched by one derived
// earlier (an fd's slot touches its file, a file its pipe), never the
// other way round, and deletions come first.
func TestReplayOrderDependencies(t *testing.T) {
	for _, tc := range []struct {
		before, after replay.Order
		why           string
	}{
		{OrderDeleted, OrderProc, "deletions first"},
		{OrderProc, OrderThread, "a process before its threads"},
		{OrderSlot, OrderFile, "an fd's slot touches its file"},
		{OrderFS, OrderFile, "an fs context before the files"},
		{OrderFile, OrderPipe, "a file touches its pipe"},
		{OrderPipe, OrderPty, "the last of the orders"},
	} {
		if tc.before >= tc.after {
			t.Errorf("%s: order %d is not before %d", tc.why, tc.before, tc.after)
		}
	}
}
