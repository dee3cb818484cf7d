package client

import (
	"sync"

	"golang.org/x/sys/unix"

	"gvisor.dev/gvisor/pkg/abi/linux"
	"gvisor.dev/gvisor/pkg/hostarch"
	"gvisor.dev/gvisor/pkg/usermem"

	pb "github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/statekey"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/sysabi"
)

// Signal actions answered and posted on the client (docs/COMPATIBILITY.md,
// "Pipelined calls").
//
// The server owns the signal dispositions; it sends a table's record
// ("sig/<id>": the 64 struct sigactions) with the reply of every call
// that changes it (rt_sigaction, exec, a clone that copies it), and each
// process's record names its table (ProcessState.sighand). From them the
// client answers rt_sigaction here, as it answers umask from the "fs/"
// records:
//   - a query (act NULL) gets the action of the caller's table copy;
//   - a change (act set) of a caller whose process has one thread and a
//     table no other process shares is answered at once (the old action
//     from the copy, if asked) and posted without oldact; the copy takes
//     the new action as the server stores it (sa_flags without the
//     bits Linux does not know, sysabi.SigactionFlags; sa_mask without
//     SIGKILL and SIGSTOP), and the table's records are not folded
//     until the posted changes have their replies (their records are
//     older than the copy).
//
// The call is forwarded as before when the table or its record is not
// known, the arguments are ones the server refuses (sigsetsize not 8, a
// signal out of 1..64, a change of SIGKILL or SIGSTOP) or the memory
// faults: the server gives the error. make and gcc query and set about
// 20 actions per process (1,571 waited calls of 5,693 in the make
// workload).

// sigActionSize is the size of a kernel struct sigaction.
const sigActionSize = 32

// sigActions holds the copies of the signal tables. mu is a leaf lock
// (the receiving goroutine folds records under it; tasks answer under
// it).
type sigActions struct {
	mu sync.Mutex
	// tableOf is each live process's table id ("proc/" records).
	// Protected by mu.
	tableOf map[int32]uint64
	// tables are the copies of the tables by id ("sig/" records, or
	// changed here by a posted rt_sigaction); posted counts a table's
	// posted changes without a reply, while which its records are not
	// folded. Protected by mu.
	tables map[uint64][]byte
	posted map[uint64]int
}

// observe folds the process and signal table records among recs.
func (sa *sigActions) observe(recs []*pb.StateRecord) {
	for _, rec := range recs {
		key, err := statekey.Parse(rec.GetKey())
		if err != nil {
			// The replay log reports it (replaylog.Log).
			continue
		}
		switch key.Kind {
		case statekey.KindProc:
			st := rec.GetProcess()
			sa.mu.Lock()
			if rec.Deleted || st == nil || st.Zombie || st.Sighand == 0 {
				delete(sa.tableOf, key.PID())
			} else {
				if sa.tableOf == nil {
					sa.tableOf = make(map[int32]uint64)
				}
				sa.tableOf[key.PID()] = st.Sighand
			}
			sa.mu.Unlock()
		case statekey.KindSighand:
			st := rec.GetSighand()
			sa.mu.Lock()
			switch {
			case sa.posted[key.ID] > 0:
			case rec.Deleted || st == nil || len(st.Actions) != linux.SignalMaximum*sigActionSize:
				delete(sa.tables, key.ID)
			default:
				if sa.tables == nil {
					sa.tables = make(map[uint64][]byte)
				}
				sa.tables[key.ID] = append([]byte(nil), st.Actions...)
			}
			sa.mu.Unlock()
		}
	}
}

// tableLocked returns pid's table id and copy, if known, and whether no
// other process uses the table. Precondition: sa.mu.
func (sa *sigActions) tableLocked(pid int32) (id uint64, table []byte, own bool) {
	id, ok := sa.tableOf[pid]
	if !ok {
		return 0, nil, false
	}
	table, ok = sa.tables[id]
	if !ok {
		return 0, nil, false
	}
	for other, o := range sa.tableOf {
		if other != pid && o == id {
			return id, table, false
		}
	}
	return id, table, true
}

// pipelineSigaction answers rt_sigaction(sig, act, oldact, sigsetsize)
// from the caller's table copy and posts a change, if it may (see
// above).
func (t *task) pipelineSigaction(args [6]uint64) bool {
	sig, act, oldact := linux.Signal(int32(args[0])), args[1], args[2]
	if args[3] != linux.SignalSetSize || !sig.IsValid() {
		return false
	}
	var newAct []byte
	if act != 0 {
		if sig == linux.SIGKILL || sig == linux.SIGSTOP || !t.singleThreaded() {
			return false
		}
		newAct = make([]byte, sigActionSize)
		if _, err := t.mm.CopyIn(t.gctx, hostarch.Addr(act), newAct, usermem.IOOpts{}); err != nil {
			return false
		}
		// As the server stores it: without the flags Linux does not
		// know, and no mask holds SIGKILL or SIGSTOP.
		var a linux.SigAction
		a.UnmarshalBytes(newAct)
		a.Flags &= sysabi.SigactionFlags
		a.Mask &^= unblockable
		a.MarshalBytes(newAct)
	}
	sa := &t.c.sigs
	off := (int(sig) - 1) * sigActionSize
	sa.mu.Lock()
	id, table, own := sa.tableLocked(t.proc.pid)
	if table == nil || (act != 0 && !own) {
		sa.mu.Unlock()
		return false
	}
	old := append([]byte(nil), table[off:off+sigActionSize]...)
	sa.mu.Unlock()
	if oldact != 0 {
		if _, err := t.mm.CopyOut(t.gctx, hostarch.Addr(oldact), old, usermem.IOOpts{}); err != nil {
			return false
		}
	}
	if act == 0 {
		t.cached = true
		return true
	}
	// The forwarded call, if it comes to that, writes oldact the same.
	if !sa.change(id, off, old, newAct) {
		return false
	}
	done := func(*pb.Reply) { sa.changed(id) }
	postArgs := [6]uint64{args[0], act, 0, args[3]}
	pc := newPostedCall(t.tid, unix.SYS_RT_SIGACTION, postArgs, sysabi.Inputs(unix.SYS_RT_SIGACTION, postArgs, appMemory{t})).replyCanWait()
	if !t.postChange(pc, done, "", 0, noChange, 0) {
		sa.unchange(id, off, newAct, old)
		return false
	}
	return true
}

// change sets the action at off of table id's copy from was to now, if it
// is still was, and counts a posted change of the table.
func (sa *sigActions) change(id uint64, off int, was, now []byte) bool {
	sa.mu.Lock()
	defer sa.mu.Unlock()
	table := sa.tables[id]
	if table == nil || string(table[off:off+sigActionSize]) != string(was) {
		return false
	}
	copy(table[off:], now)
	if sa.posted == nil {
		sa.posted = make(map[uint64]int)
	}
	sa.posted[id]++
	return true
}

// unchange undoes a change (from was back to now) that was not posted.
func (sa *sigActions) unchange(id uint64, off int, was, now []byte) {
	sa.mu.Lock()
	if table := sa.tables[id]; table != nil && string(table[off:off+sigActionSize]) == string(was) {
		copy(table[off:], now)
	}
	sa.mu.Unlock()
	sa.changed(id)
}

// changed counts a posted change of table id answered (or not sent).
func (sa *sigActions) changed(id uint64) {
	sa.mu.Lock()
	defer sa.mu.Unlock()
	if sa.posted[id]--; sa.posted[id] <= 0 {
		delete(sa.posted, id)
	}
}

// action returns the disposition of sig in pid's table copy, if known.
func (sa *sigActions) action(pid int32, sig linux.Signal) (linux.SigAction, bool) {
	var act linux.SigAction
	sa.mu.Lock()
	defer sa.mu.Unlock()
	_, table, _ := sa.tableLocked(pid)
	if table == nil {
		return act, false
	}
	off := (int(sig) - 1) * sigActionSize
	act.UnmarshalBytes(table[off : off+sigActionSize])
	return act, true
}
