package kernel

import (
	"testing"

	"github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/fdesc"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/kernel/fdtable"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/replay"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/statekey"
)

// TestTrackerTouches checks that each entry point touches its object in
// its order, that objects that report nothing and a nil Tracker are
// ignored, and that a call's effects come with its reply only.
func TestTrackerTouches(t *testing.T) {
	proc := &Process{PID: 3}
	f := &fdesc.File{}
	for _, tc := range []struct {
		name  string
		touch func(*Tracker)
		order replay.Order
		obj   any // nil: nothing touched
	}{
		{"process", func(tr *Tracker) { tr.Changed(proc) }, OrderProc, proc},
		{"nil process", func(tr *Tracker) { tr.Changed((*Process)(nil)) }, 0, nil},
		{"locks", func(tr *Tracker) { tr.TouchLocks(7) }, OrderLocks, LockedIno(7)},
		{"mapped", func(tr *Tracker) { tr.TouchMapped(8) }, OrderMap, MappedID(8)},
		{"sysv", func(tr *Tracker) { tr.TouchSysv(statekey.Key{Kind: statekey.KindSysvSem, ID: 1}) }, OrderSysv, SysvKey(statekey.Key{Kind: statekey.KindSysvSem, ID: 1})},
		{"pty", func(tr *Tracker) { tr.TouchPty(2) }, OrderPty, PtyIndex(2)},
		{"no pipe", func(tr *Tracker) { tr.TouchPipe(nil) }, 0, nil},
		{"file", func(tr *Tracker) { tr.TouchFile(f) }, OrderFile, f},
		{"nil file", func(tr *Tracker) { tr.TouchFile(nil) }, 0, nil},
		{"slot", func(tr *Tracker) { tr.TouchSlot(fdtable.Slot{FD: 4}) }, OrderSlot, FDSlot(fdtable.Slot{FD: 4})},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.touch(nil) // a nil Tracker ignores it
			tr := NewTracker()
			tc.touch(tr)
			c := tr.Take(0, false)
			if tc.obj == nil {
				if c != nil {
					t.Fatal("touched something")
				}
				return
			}
			if c == nil {
				t.Fatal("touched nothing")
			}
			var got []any
			c.Derive(func(_ *replay.Collection[*CallEffects], order replay.Order, obj any) *sentrypb.StateRecord {
				if order != tc.order {
					t.Errorf("touched in order %d, want %d", order, tc.order)
				}
				got = append(got, obj)
				return nil
			}, func() *sentrypb.StateRecord { return nil })
			if len(got) != 1 || got[0] != tc.obj {
				t.Fatalf("touched %v, want %v", got, tc.obj)
			}
		})
	}
}

func TestTrackerEffectsWithTheReply(t *testing.T) {
	tr := NewTracker()
	eff := &CallEffects{StdinRead: 5}
	tr.SetEffects(9, eff)
	if c := tr.Take(8, true); c != nil && c.HasEffects {
		t.Fatal("another call's reply took the effects")
	}
	if c := tr.Take(9, false); c != nil && c.HasEffects {
		t.Fatal("a push took the effects")
	}
	c := tr.Take(9, true)
	if c == nil || !c.HasEffects || c.Effects != eff {
		t.Fatalf("the reply's collection %+v, want the effects", c)
	}
}
