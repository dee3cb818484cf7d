package sysvipc

import (
	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"
)

// semSet is a semaphore set.
type semSet struct {
	perm
	vals  []int32
	pids  []int32
	otime int64
	ctime int64
	// waiters are the blocked semops, by the semaphore and kind of the
	// op that blocked them (GETNCNT, GETZCNT).
	waiters map[*SemWait]semWaiter
	changed notifier
}

type semWaiter struct {
	num  uint16
	zero bool
}

// SemWait is one semop call's registration as a waiter (GETNCNT,
// GETZCNT). It stays while the call waits and retries, so that the
// counts do not drop between a wake-up and the retry; the call ends it
// with EndWait.
type SemWait struct {
	// set is the set w waits on (nil: none). Protected by Registry.mu.
	set *semSet
}

// EndWait ends w's registration. It returns EIDRM if the set w waited
// on was removed meanwhile.
func (r *Registry) EndWait(w *SemWait) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.endWaitLocked(w)
}

func (r *Registry) endWaitLocked(w *SemWait) error {
	s := w.set
	if s == nil {
		return nil
	}
	delete(s.waiters, w)
	w.set = nil
	if s.removed {
		return unix.EIDRM
	}
	return nil
}

func (r *Registry) semLocked(id int32) (*semSet, error) {
	obj, err := r.sems.lookup(id)
	if err != nil {
		return nil, err
	}
	return obj.(*semSet), nil
}

// SemGet is semget(2).
func (r *Registry) SemGet(c Caller, key int32, nsems int32, flags int32) (int32, error) {
	if nsems < 0 || nsems > linux.SEMMSL {
		return 0, unix.EINVAL
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.get(c, kindSem, key, flags, func(obj any) error {
		if int(nsems) > len(obj.(*semSet).vals) {
			return unix.EINVAL
		}
		return nil
	}, func() error {
		if nsems == 0 {
			return unix.EINVAL
		}
		return nil
	}, func(p perm) any {
		return &semSet{perm: p, vals: make([]int32, nsems), pids: make([]int32, nsems), ctime: r.nowUnix(), waiters: make(map[*SemWait]semWaiter)}
	})
}

// Semop is semop(2) and semtimedop(2) without their wait: if the
// operations cannot all be done now, it registers w as a waiter and
// returns a channel closed when the set changes; the caller waits for
// it (or a signal, or its timeout) and calls Semop again with the same
// w, or EndWait if it gives up. seq is the calling system call's (its
// effect is pending until Commit(seq)).
func (r *Registry) Semop(c Caller, seq uint64, id int32, ops []linux.Sembuf, w *SemWait) (<-chan struct{}, error) {
	if len(ops) < 1 {
		return nil, unix.EINVAL
	}
	if len(ops) > linux.SEMOPM {
		return nil, unix.E2BIG
	}
	maxNum, alter, undo := uint16(0), false, false
	for _, op := range ops {
		maxNum = max(maxNum, op.SemNum)
		alter = alter || op.SemOp != 0
		undo = undo || op.SemFlg&linux.SEM_UNDO != 0
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	// A retry: the set may have gone while the call waited.
	if err := r.endWaitLocked(w); err != nil {
		return nil, err
	}
	s, err := r.semLocked(id)
	if err != nil {
		return nil, err
	}
	if int(maxNum) >= len(s.vals) {
		return nil, unix.EFBIG
	}
	want := uint32(4)
	if alter {
		want = 2
	}
	if !s.mayAccess(c, want) {
		return nil, unix.EACCES
	}
	var adj []int32
	if undo {
		adj = r.undo[c.Pid][id]
		if adj == nil {
			adj = make([]int32, len(s.vals))
		}
	}
	// Try the operations in order on a copy, as Linux's
	// perform_atomic_semop.
	vals := append([]int32(nil), s.vals...)
	newAdj := append([]int32(nil), adj...)
	for _, op := range ops {
		v := vals[op.SemNum]
		if (op.SemOp == 0 && v != 0) || v+int32(op.SemOp) < 0 {
			if op.SemFlg&linux.IPC_NOWAIT != 0 {
				return nil, unix.EAGAIN
			}
			s.waiters[w] = semWaiter{num: op.SemNum, zero: op.SemOp == 0}
			w.set = s
			return s.changed.wait(), nil
		}
		v += int32(op.SemOp)
		if v > linux.SEMVMX {
			return nil, unix.ERANGE
		}
		if op.SemFlg&linux.SEM_UNDO != 0 {
			a := newAdj[op.SemNum] - int32(op.SemOp)
			if a < -linux.SEMAEM-1 || a > linux.SEMAEM {
				return nil, unix.ERANGE
			}
			newAdj[op.SemNum] = a
		}
		vals[op.SemNum] = v
	}
	e := &effect{k: kindSem, id: id, pid: c.Pid, semDelta: make(map[uint16]int32)}
	for _, op := range ops {
		e.semDelta[op.SemNum] += int32(op.SemOp)
		s.pids[op.SemNum] = c.Pid
	}
	if undo {
		e.undoDelta = make(map[uint16]int32)
		for i := range newAdj {
			if d := newAdj[i] - adj[i]; d != 0 {
				e.undoDelta[uint16(i)] = d
			}
		}
		r.setUndoLocked(c.Pid, id, newAdj)
	}
	s.vals = vals
	s.otime = r.nowUnix()
	if alter {
		s.changed.notify()
	}
	r.addPendingLocked(seq, e)
	r.changedLocked(kindSem, id)
	return nil, nil
}

func (r *Registry) setUndoLocked(pid, id int32, adj []int32) {
	m := r.undo[pid]
	if m == nil {
		m = make(map[int32][]int32)
		r.undo[pid] = m
	}
	allZero := true
	for _, a := range adj {
		allZero = allZero && a == 0
	}
	if allZero {
		delete(m, id)
		if len(m) == 0 {
			delete(r.undo, pid)
		}
		return
	}
	m[id] = adj
}

// clearUndoLocked drops every process's adjustment of semaphore num of
// set id (all of them if num < 0), as SETVAL, SETALL and IPC_RMID do.
func (r *Registry) clearUndoLocked(id int32, num int) {
	for pid, m := range r.undo {
		adj, ok := m[id]
		if !ok {
			continue
		}
		if num < 0 {
			delete(m, id)
		} else {
			adj[num] = 0
			r.setUndoLocked(pid, id, adj)
		}
		if len(m) == 0 {
			delete(r.undo, pid)
		}
	}
}

// semStatLocked is IPC_STAT, SEM_STAT and SEM_STAT_ANY's lookup.
func (r *Registry) semForStatLocked(c Caller, id int32, cmd int32) (*semSet, error) {
	var s *semSet
	if cmd == linux.SEM_STAT || cmd == linux.SEM_STAT_ANY {
		obj, err := r.sems.statIndex(id)
		if err != nil {
			return nil, err
		}
		s = obj.(*semSet)
	} else {
		var err error
		if s, err = r.semLocked(id); err != nil {
			return nil, err
		}
	}
	if cmd != linux.SEM_STAT_ANY && !s.mayAccess(c, 4) {
		return nil, unix.EACCES
	}
	return s, nil
}

// SemStat is semctl's IPC_STAT, SEM_STAT and SEM_STAT_ANY; it returns
// the set's semid64_ds and, for SEM_STAT*, its id as the result.
func (r *Registry) SemStat(c Caller, id int32, cmd int32) (linux.SemidDS, int32, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	s, err := r.semForStatLocked(c, id, cmd)
	if err != nil {
		return linux.SemidDS{}, 0, err
	}
	ds := linux.SemidDS{SemPerm: s.toLinux(), SemOTime: linux.TimeT(s.otime), SemCTime: linux.TimeT(s.ctime), SemNSems: uint64(len(s.vals))}
	ret := int32(0)
	if cmd != linux.IPC_STAT {
		ret = s.id
	}
	return ds, ret, nil
}

// SemSetPerm is semctl's IPC_SET.
func (r *Registry) SemSetPerm(c Caller, id int32, ds linux.SemidDS) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	s, err := r.semLocked(id)
	if err != nil {
		return err
	}
	if err := s.set(c, ds.SemPerm); err != nil {
		return err
	}
	s.ctime = r.nowUnix()
	r.changedLocked(kindSem, id)
	return nil
}

// SemRemove is semctl's IPC_RMID: blocked semops fail with EIDRM.
func (r *Registry) SemRemove(c Caller, id int32) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	s, err := r.semLocked(id)
	if err != nil {
		return err
	}
	if !s.isOwner(c) {
		return unix.EPERM
	}
	r.sems.remove(&s.perm)
	s.removed = true
	s.changed.notify()
	r.clearUndoLocked(id, -1)
	r.changedLocked(kindSem, id)
	return nil
}

// SemInfo is semctl's IPC_INFO and SEM_INFO; the result is the highest
// used index.
func (r *Registry) SemInfo(cmd int32) (linux.SemInfo, int32) {
	r.mu.Lock()
	defer r.mu.Unlock()
	info := linux.SemInfo{
		SemMap: linux.SEMMAP, SemMni: linux.SEMMNI, SemMns: linux.SEMMNS, SemMnu: linux.SEMMNU,
		SemMsl: linux.SEMMSL, SemOpm: linux.SEMOPM, SemUme: linux.SEMUME, SemUsz: linux.SEMUSZ,
		SemVmx: linux.SEMVMX, SemAem: linux.SEMAEM,
	}
	if cmd == linux.SEM_INFO {
		info.SemUsz = uint32(len(r.sems.byIndex))
		total := 0
		for _, obj := range r.sems.byIndex {
			total += len(obj.(*semSet).vals)
		}
		info.SemAem = uint32(total)
	}
	return info, r.sems.highest()
}

// SemGetOne is semctl's GETVAL, GETPID, GETNCNT and GETZCNT.
func (r *Registry) SemGetOne(c Caller, id int32, num int32, cmd int32) (int32, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	s, err := r.semLocked(id)
	if err != nil {
		return 0, err
	}
	if !s.mayAccess(c, 4) {
		return 0, unix.EACCES
	}
	if num < 0 || int(num) >= len(s.vals) {
		return 0, unix.EINVAL
	}
	switch cmd {
	case linux.GETVAL:
		return s.vals[num], nil
	case linux.GETPID:
		return s.pids[num], nil
	}
	n := int32(0)
	for _, w := range s.waiters {
		if int32(w.num) == num && w.zero == (cmd == linux.GETZCNT) {
			n++
		}
	}
	return n, nil
}

// SemGetAll is semctl's GETALL.
func (r *Registry) SemGetAll(c Caller, id int32) ([]uint16, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	s, err := r.semLocked(id)
	if err != nil {
		return nil, err
	}
	if !s.mayAccess(c, 4) {
		return nil, unix.EACCES
	}
	out := make([]uint16, len(s.vals))
	for i, v := range s.vals {
		out[i] = uint16(v)
	}
	return out, nil
}

// SemSetVal is semctl's SETVAL.
func (r *Registry) SemSetVal(c Caller, id int32, num int32, val int32) error {
	if val < 0 || val > linux.SEMVMX {
		return unix.ERANGE
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	s, err := r.semLocked(id)
	if err != nil {
		return err
	}
	if num < 0 || int(num) >= len(s.vals) {
		return unix.EINVAL
	}
	if !s.mayAccess(c, 2) {
		return unix.EACCES
	}
	r.clearUndoLocked(id, int(num))
	s.vals[num] = val
	s.pids[num] = c.Pid
	s.ctime = r.nowUnix()
	s.changed.notify()
	r.changedLocked(kindSem, id)
	return nil
}

// SemSetAll is semctl's SETALL; read gets the n values from the
// application (its error is returned as is).
func (r *Registry) SemSetAll(c Caller, id int32, read func(n int) ([]uint16, error)) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	s, err := r.semLocked(id)
	if err != nil {
		return err
	}
	vals, err := read(len(s.vals))
	if err != nil {
		return err
	}
	if !s.mayAccess(c, 2) {
		return unix.EACCES
	}
	for _, v := range vals {
		if v > linux.SEMVMX {
			return unix.ERANGE
		}
	}
	r.clearUndoLocked(id, -1)
	for i, v := range vals {
		s.vals[i] = int32(v)
		s.pids[i] = c.Pid
	}
	s.ctime = r.nowUnix()
	s.changed.notify()
	r.changedLocked(kindSem, id)
	return nil
}

// SemNsems returns the size of set id (for SETALL's input).
func (r *Registry) SemNsems(id int32) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	s, err := r.semLocked(id)
	if err != nil {
		return 0, err
	}
	return len(s.vals), nil
}

// applyUndoLocked applies and drops pid's SEM_UNDO adjustments (exit).
func (r *Registry) applyUndoLocked(pid int32) {
	for id, adj := range r.undo[pid] {
		s, err := r.semLocked(id)
		if err != nil {
			continue
		}
		for i, a := range adj {
			if a == 0 {
				continue
			}
			s.vals[i] = min(max(s.vals[i]+a, 0), linux.SEMVMX)
			s.pids[i] = pid
		}
		s.otime = r.nowUnix()
		s.changed.notify()
		r.changedLocked(kindSem, id)
	}
	delete(r.undo, pid)
}

// ProcessUnsharedUndo applies and drops pid's SEM_UNDO adjustments, as
// Linux's exit_sem does when unshare(CLONE_SYSVSEM) drops the last use of
// the caller's undo list.
func (r *Registry) ProcessUnsharedUndo(pid int32) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.applyUndoLocked(pid)
}
