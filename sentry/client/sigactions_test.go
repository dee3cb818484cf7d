package client

import (
	"bytes"
	"testing"

	pb "github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/statekey"
)

// sigRecords returns the records of process pid using table id and of the
// table, whose every action's first byte is fill.
func sigRecords(pid int32, id uint64, fill byte) []*pb.StateRecord {
	acts := make([]byte, 64*sigActionSize)
	for i := 0; i < len(acts); i += sigActionSize {
		acts[i] = fill
	}
	return []*pb.StateRecord{
		{Key: statekey.Proc(pid).String(), Value: &pb.StateRecord_Process{Process: &pb.ProcessState{Pid: pid, Sighand: id}}},
		{Key: statekey.Sighand(id).String(), Value: &pb.StateRecord_Sighand{Sighand: &pb.SigHandState{Id: id, Actions: acts}}},
	}
}

// TestSigActionsCopy checks the client's copies of the signal tables: a
// process's table and whether it shares it, a posted change kept over the
// (older) records that arrive before its reply, and an undone change.
func TestSigActionsCopy(t *testing.T) {
	action := func(sa *sigActions, pid int32, sig int) (byte, bool, bool) {
		sa.mu.Lock()
		defer sa.mu.Unlock()
		_, table, own := sa.tableLocked(pid)
		if table == nil {
			return 0, false, false
		}
		return table[(sig-1)*sigActionSize], own, true
	}
	var sa sigActions
	if _, _, known := action(&sa, 1, 10); known {
		t.Fatal("a table is known before its records")
	}
	sa.observe(sigRecords(1, 5, 0))
	if a, own, known := action(&sa, 1, 10); !known || !own || a != 0 {
		t.Fatalf("after the records: action %d own %v known %v, want 0 true true", a, own, known)
	}
	// Another process on the same table (CLONE_SIGHAND).
	sa.observe(sigRecords(2, 5, 0)[:1])
	if _, own, _ := action(&sa, 1, 10); own {
		t.Error("a table two processes use is taken as the caller's own")
	}
	sa.observe([]*pb.StateRecord{{Key: statekey.Proc(2).String(), Deleted: true}})

	// A posted change: the records of the table that arrive before its
	// reply are older than the copy.
	was, now := make([]byte, sigActionSize), bytes.Repeat([]byte{7}, sigActionSize)
	off := 9 * sigActionSize
	if !sa.change(5, off, was, now) {
		t.Fatal("change refused")
	}
	sa.observe(sigRecords(1, 5, 0))
	if a, _, _ := action(&sa, 1, 10); a != 7 {
		t.Errorf("a record folded over a posted change without its reply: action %d, want 7", a)
	}
	if sa.change(5, off, was, now) {
		t.Error("a change from an action the copy no longer has was made")
	}
	sa.changed(5)
	sa.observe(sigRecords(1, 5, 3))
	if a, _, _ := action(&sa, 1, 10); a != 3 {
		t.Errorf("a record after the posted change's reply not folded: action %d, want 3", a)
	}

	// A change not posted is undone.
	cur := bytes.Repeat([]byte{3}, 1)
	cur = append(cur, make([]byte, sigActionSize-1)...)
	if !sa.change(5, off, cur, now) {
		t.Fatal("change refused")
	}
	sa.unchange(5, off, now, cur)
	if a, _, _ := action(&sa, 1, 10); a != 3 || sa.posted[5] != 0 {
		t.Errorf("after an undone change: action %d, posted %d, want 3 and 0", a, sa.posted[5])
	}
	sa.observe(sigRecords(1, 5, 4))
	if a, _, _ := action(&sa, 1, 10); a != 4 {
		t.Errorf("records not folded after an undone change: action %d, want 4", a)
	}
}
