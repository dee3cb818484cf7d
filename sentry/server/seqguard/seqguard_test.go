package seqguard

import (
	"testing"

	"github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
)

func TestGuard(t *testing.T) {
	call := func(seq uint64) *sentrypb.Call { return &sentrypb.Call{Seq: seq} }
	restore := func(seq uint64) *sentrypb.Call {
		return &sentrypb.Call{Seq: seq, Op: &sentrypb.Call_Restore{Restore: &sentrypb.Restore{}}}
	}
	type step struct {
		c  *sentrypb.Call
		ok bool
	}
	for _, tc := range []struct {
		name  string
		steps []step
	}{
		{"in order", []step{{call(1), true}, {call(2), true}, {call(3), true}}},
		{"zero", []step{{call(0), false}}},
		{"reused", []step{{call(1), true}, {call(2), true}, {call(2), false}, {call(1), false}}},
		{"slightly out of order", []step{{call(1), true}, {call(3), true}, {call(2), true}, {call(2), false}}},
		{"across a word", []step{{call(1), true}, {call(70), true}, {call(6), true}, {call(6), false}, {call(70), false}, {call(1), false}}},
		{"far below", []step{{call(seqWindow + 10), true}, {call(5), false}}},
		{"window moved past", []step{{call(5), true}, {call(5 + seqWindow), true}, {call(5), false}, {call(6), true}}},
		{"re-sent below restore once", []step{{restore(1000), true}, {call(3), true}, {call(999), true}, {call(3), false}, {call(1001), true}, {call(1000), false}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var g Guard
			for i, s := range tc.steps {
				if err := g.Admit(s.c); (err == nil) != s.ok {
					t.Fatalf("step %d (seq %d): %v, want ok=%v", i, s.c.Seq, err, s.ok)
				}
			}
		})
	}
}
