package seqguard

import (
	"fmt"

	"github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
)

// seqWindow is how far below the highest seq seen a call may arrive. A
// client numbers its calls in order but sends them from several threads,
// so they may arrive slightly out of order; far older seqs are refused.
const seqWindow = 1 << 16

// maxResent bounds the seqs below the Restore's that a recovering client
// may re-send (one per call that was in flight: a few per thread).
const maxResent = 1 << 16

// Guard refuses a call whose seq this session already saw, or that is
// far older than any it saw (a re-sent call is accepted once, below the
// Restore's seq): the gofer's reply cache answers a mutation by its seq,
// so a reused seq would get another call's effect. It is owned by the
// session's receiving goroutine: no lock.
type Guard struct {
	// max is the highest seq seen; seen is a ring: for a seq s within
	// seqWindow of max (s <= max), bit s%seqWindow (word /64, bit %64)
	// is set when s was seen. Moving max up clears the bits of the seqs
	// it passes, so a new call costs the seqs it skips, not the window.
	max  uint64
	seen [seqWindow / 64]uint64
	// resendBelow is the Restore's seq (0 before one); resent holds the
	// seqs below it seen since.
	resendBelow uint64
	resent      map[uint64]struct{}
}

// Admit records call's seq, or returns why it is refused.
func (g *Guard) Admit(call *sentrypb.Call) error {
	seq := call.GetSeq()
	switch {
	case seq == 0:
		return fmt.Errorf("call without a seq")
	case seq < g.resendBelow:
		if _, dup := g.resent[seq]; dup {
			return fmt.Errorf("seq %d re-sent twice", seq)
		}
		if len(g.resent) >= maxResent {
			return fmt.Errorf("seq %d: more than %d re-sent calls", seq, maxResent)
		}
		if g.resent == nil {
			g.resent = make(map[uint64]struct{})
		}
		g.resent[seq] = struct{}{}
		return nil
	case seq > g.max:
		g.clear(g.max+1, seq)
		g.max = seq
		w, b := bitOf(seq)
		g.seen[w] |= b
	default:
		if d := g.max - seq; d >= seqWindow {
			return fmt.Errorf("seq %d is %d below the highest seen (%d)", seq, d, g.max)
		}
		w, b := bitOf(seq)
		if g.seen[w]&b != 0 {
			return fmt.Errorf("seq %d reused", seq)
		}
		g.seen[w] |= b
	}
	if _, ok := call.GetOp().(*sentrypb.Call_Restore); ok && g.resendBelow == 0 {
		g.resendBelow = seq
	}
	return nil
}

// bitOf returns the word and bit of seq in Guard.seen.
func bitOf(seq uint64) (int, uint64) {
	i := seq % seqWindow
	return int(i / 64), 1 << (i % 64)
}

// clear marks the seqs from through to (to >= from) as not seen: the
// window moves up to them.
func (g *Guard) clear(from, to uint64) {
	if to-from >= seqWindow-1 {
		g.seen = [seqWindow / 64]uint64{}
		return
	}
	for s := from; s <= to; {
		w, b := bitOf(s)
		if s%64 == 0 && to-s >= 63 {
			g.seen[w] = 0
			s += 64
			continue
		}
		g.seen[w] &^= b
		s++
	}
}
