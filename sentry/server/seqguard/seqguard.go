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
	// max is the highest seq seen; seen has bit i of word i/64 set when
	// seq max-i was seen (i < seqWindow).
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
		g.shift(seq - g.max)
		g.max = seq
		g.seen[0] |= 1
	default:
		d := g.max - seq
		if d >= seqWindow {
			return fmt.Errorf("seq %d is %d below the highest seen (%d)", seq, d, g.max)
		}
		if g.seen[d/64]&(1<<(d%64)) != 0 {
			return fmt.Errorf("seq %d reused", seq)
		}
		g.seen[d/64] |= 1 << (d % 64)
	}
	if _, ok := call.GetOp().(*sentrypb.Call_Restore); ok && g.resendBelow == 0 {
		g.resendBelow = seq
	}
	return nil
}

// shift moves the window up by n seqs.
func (g *Guard) shift(n uint64) {
	if n >= seqWindow {
		g.seen = [seqWindow / 64]uint64{}
		return
	}
	words, bits := int(n/64), n%64
	for i := len(g.seen) - 1; i >= 0; i-- {
		var v uint64
		if j := i - words; j >= 0 {
			v = g.seen[j] << bits
			if bits != 0 && j > 0 {
				v |= g.seen[j-1] >> (64 - bits)
			}
		}
		g.seen[i] = v
	}
}
