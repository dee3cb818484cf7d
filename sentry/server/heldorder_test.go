package server

import (
	"testing"

	"github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/statekey"
)

// TestHeldRecordsBeforeReplyRecords: a message sent while posted replies
// are held (a reply, a push) carries the records changed since the last
// message once, folded after the held replies in front of it; what
// changes after goes with the next message. It derived them a second time
// for the held replies, into state_before or a message of its own, folded
// before the first derivation's though newer: a slot the first showed
// freed and another thread's open took meanwhile was folded taken, then
// freed (chaos thread-files: a writer's fd gone from the log, EBADF after
// the next recovery).
func TestHeldRecordsBeforeReplyRecords(t *testing.T) {
	slot := statekey.FD(11, 5).String()
	for _, tc := range []struct {
		name        string
		first       *sentrypb.ServerMessage
		stateBefore bool
	}{
		{"reply, state_before", &sentrypb.ServerMessage{Msg: &sentrypb.ServerMessage_Reply{Reply: &sentrypb.Reply{Seq: 62}}}, true},
		{"reply, a push before it", &sentrypb.ServerMessage{Msg: &sentrypb.ServerMessage_Reply{Reply: &sentrypb.Reply{Seq: 62}}}, false},
		{"push, state_before", &sentrypb.ServerMessage{Msg: &sentrypb.ServerMessage_Push{Push: &sentrypb.Push{}}}, true},
		{"push, a push before it", &sentrypb.ServerMessage{Msg: &sentrypb.ServerMessage_Push{Push: &sentrypb.Push{}}}, false},
	} {
		stateBefore := tc.stateBefore
		// Each derivation sees the slot as it is then: freed, then taken.
		derived := 0
		states := []*sentrypb.StateRecord{
			{Key: slot, Deleted: true},
			{Key: slot, Value: &sentrypb.StateRecord_Fd{Fd: &sentrypb.FdState{FdTable: 11, Fd: 5, File: 2071}}},
		}
		var sent []*sentrypb.ServerMessage
		st := &clientStream{stateBefore: stateBefore}
		st.postedHeld.Packed = true
		st.records = func(uint64, bool) []*sentrypb.StateRecord {
			if derived >= len(states) {
				return nil
			}
			derived++
			return []*sentrypb.StateRecord{states[derived-1]}
		}
		st.send = func(m *sentrypb.ServerMessage) error { sent = append(sent, m); return nil }
		if !st.postedHeld.HoldDone(61, 0) {
			t.Fatal("no room to hold a reply")
		}
		// The first message, then the next (a push): what changed after
		// the first's records were derived goes with that one.
		for _, m := range []*sentrypb.ServerMessage{tc.first, {Msg: &sentrypb.ServerMessage_Push{Push: &sentrypb.Push{}}}} {
			st.sendMu.Lock()
			err := st.sendWithStateLocked(m)
			st.sendMu.Unlock()
			if err != nil {
				t.Fatal(err)
			}
		}
		// The records in the order the client folds them.
		var folded []*sentrypb.StateRecord
		for _, m := range sent {
			folded = append(folded, m.StateBefore...)
			folded = append(folded, m.GetPush().GetState().GetRecords()...)
			folded = append(folded, m.GetReply().GetState()...)
		}
		if len(folded) != 2 || folded[0] != states[0] || folded[1] != states[1] {
			t.Errorf("%s: records folded %v, want the freed slot, then the taken one", tc.name, folded)
		}
	}
}
