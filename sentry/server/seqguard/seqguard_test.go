package seqguard

import (
	"math/rand/v2"
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

// TestGuardLongRun admits seqs well past the window, each pair out of
// order (a thread's call overtaking another's), then refuses each again.
func TestGuardLongRun(t *testing.T) {
	var g Guard
	admit := func(seq uint64) {
		t.Helper()
		if err := g.Admit(&sentrypb.Call{Seq: seq}); err != nil {
			t.Fatalf("seq %d: %v", seq, err)
		}
		if err := g.Admit(&sentrypb.Call{Seq: seq}); err == nil {
			t.Fatalf("seq %d admitted twice", seq)
		}
	}
	for seq := uint64(1); seq < 3*seqWindow; seq += 2 {
		admit(seq + 1)
		admit(seq)
	}
}

// TestGuardModel checks Admit against a plain model (a set of every seq
// seen) over random runs: seqs that move up by small and large steps,
// arrive out of order, repeat, and fall out of the window.
func TestGuardModel(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for run := 0; run < 50; run++ {
		var g Guard
		seen := make(map[uint64]bool)
		var max uint64
		for i := 0; i < 2000; i++ {
			var seq uint64
			switch r := rng.IntN(10); {
			case r < 5 || max == 0:
				seq = max + 1 + uint64(rng.IntN(3))
			case r < 6:
				seq = max + uint64(rng.IntN(3*seqWindow))
			case r < 9:
				seq = max - min(max-1, uint64(rng.IntN(200)))
			default:
				seq = max - min(max-1, uint64(rng.IntN(2*seqWindow)))
			}
			want := seq != 0 && !seen[seq] && (seq > max || max-seq < seqWindow)
			err := g.Admit(&sentrypb.Call{Seq: seq})
			if (err == nil) != want {
				t.Fatalf("run %d step %d: seq %d (max %d, seen %v): %v, want ok=%v", run, i, seq, max, seen[seq], err, want)
			}
			if err == nil {
				seen[seq] = true
				max = maxOf(max, seq)
			}
		}
	}
}

func maxOf(a, b uint64) uint64 {
	if a > b {
		return a
	}
	return b
}
