package sysvipc

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
	"google.golang.org/protobuf/proto"
	"gvisor.dev/gvisor/pkg/abi/linux"

	"github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/statekey"
)

// IsKey says key names a record of this package.
func IsKey(key statekey.Key) bool {
	switch key.Kind {
	case statekey.KindSysvIDs, statekey.KindSysvMsg, statekey.KindSysvSem, statekey.KindSysvShm:
		return true
	}
	return false
}

func deleted(key statekey.Key) *sentrypb.StateRecord {
	return &sentrypb.StateRecord{Key: key.String(), Deleted: true}
}

func (p *perm) toProto() *sentrypb.SysvPerm {
	return &sentrypb.SysvPerm{Key: p.key, Uid: p.uid, Gid: p.gid, Cuid: p.cuid, Cgid: p.cgid, Mode: p.mode}
}

// Record is the current record for key (IsKey), leaving out the
// effects of pending calls.
func (r *Registry) Record(key statekey.Key) *sentrypb.StateRecord {
	r.mu.Lock()
	defer r.mu.Unlock()
	if key == keyIDs {
		ids := &sentrypb.SysvIds{
			SemSeq: uint32(r.sems.seq), MsgSeq: uint32(r.msgs.seq), ShmSeq: uint32(r.shms.seq),
			Msgmni: proto.Uint32(uint32(r.msgs.max)), Shmmni: proto.Uint32(uint32(r.shms.max)),
			Shmmax: proto.Uint64(r.shmmax), Shmall: proto.Uint64(r.shmall)}
		// Only a pending next id is written, so that a record of a
		// namespace that never had one stays as it was.
		if r.sems.nextID >= 0 {
			ids.SemNextId = proto.Int32(r.sems.nextID)
		}
		if r.msgs.nextID >= 0 {
			ids.MsgNextId = proto.Int32(r.msgs.nextID)
		}
		if r.shms.nextID >= 0 {
			ids.ShmNextId = proto.Int32(r.shms.nextID)
		}
		return &sentrypb.StateRecord{Key: key.String(), Value: &sentrypb.StateRecord_SysvIds{SysvIds: ids}}
	}
	if !IsKey(key) {
		return deleted(key)
	}
	id := key.Int32ID()
	// Pending effects on this object, oldest call first.
	var pend []*effect
	var seqs []uint64
	for seq, e := range r.pending {
		if e.id == id && keyOf(e.k, e.id) == key {
			seqs = append(seqs, seq)
		}
	}
	sort.Slice(seqs, func(i, j int) bool { return seqs[i] < seqs[j] })
	for _, seq := range seqs {
		pend = append(pend, r.pending[seq])
	}
	switch key.Kind {
	case statekey.KindSysvSem:
		s, err := r.semLocked(id)
		if err != nil {
			return deleted(key)
		}
		return &sentrypb.StateRecord{Key: key.String(), Value: &sentrypb.StateRecord_SysvSem{SysvSem: r.semStateLocked(s, pend)}}
	case statekey.KindSysvMsg:
		q, err := r.queueLocked(id)
		if err != nil {
			return deleted(key)
		}
		return &sentrypb.StateRecord{Key: key.String(), Value: &sentrypb.StateRecord_SysvMsg{SysvMsg: msgState(q, pend)}}
	case statekey.KindSysvShm:
		s, err := r.segmentLocked(id)
		if err != nil {
			return deleted(key)
		}
		st := &sentrypb.SysvShmState{Id: id, Perm: s.toProto(), Size: s.size, Cpid: s.cpid, Lpid: s.lpid,
			Atime: s.atime, Dtime: s.dtime, Ctime: s.ctime, File: s.file,
			Locked: s.mode&linux.SHM_LOCKED != 0, Removed: s.mode&linux.SHM_DEST != 0}
		for pid, m := range r.attaches {
			if n := m[id]; n > 0 {
				st.Attaches = append(st.Attaches, &sentrypb.SysvShmAttach{Pid: pid, Count: uint32(n)})
			}
		}
		sort.Slice(st.Attaches, func(i, j int) bool { return st.Attaches[i].Pid < st.Attaches[j].Pid })
		return &sentrypb.StateRecord{Key: key.String(), Value: &sentrypb.StateRecord_SysvShm{SysvShm: st}}
	}
	return deleted(key)
}

func (r *Registry) semStateLocked(s *semSet, pend []*effect) *sentrypb.SysvSemState {
	vals := append([]int32(nil), s.vals...)
	undo := make(map[int32][]int32)
	for pid, m := range r.undo {
		if adj, ok := m[s.id]; ok {
			undo[pid] = append([]int32(nil), adj...)
		}
	}
	for _, e := range pend {
		for num, d := range e.semDelta {
			vals[num] -= d
		}
		if len(e.undoDelta) > 0 {
			adj := undo[e.pid]
			if adj == nil {
				adj = make([]int32, len(vals))
				undo[e.pid] = adj
			}
			for num, d := range e.undoDelta {
				adj[num] -= d
			}
		}
	}
	st := &sentrypb.SysvSemState{Id: s.id, Perm: s.toProto(), Otime: s.otime, Ctime: s.ctime, Pids: append([]int32(nil), s.pids...)}
	for _, v := range vals {
		st.Values = append(st.Values, uint32(min(max(v, 0), linux.SEMVMX)))
	}
	for pid, adj := range undo {
		zero := true
		for _, a := range adj {
			zero = zero && a == 0
		}
		if !zero {
			st.Undo = append(st.Undo, &sentrypb.SysvSemUndo{Pid: pid, Adj: adj})
		}
	}
	sort.Slice(st.Undo, func(i, j int) bool { return st.Undo[i].Pid < st.Undo[j].Pid })
	return st
}

func msgState(q *queue, pend []*effect) *sentrypb.SysvMsgState {
	msgs := append([]*message(nil), q.msgs...)
	// Undo the newest pending call first.
	for i := len(pend) - 1; i >= 0; i-- {
		e := pend[i]
		if e.sent != nil {
			for j, m := range msgs {
				if m == e.sent {
					msgs = append(msgs[:j], msgs[j+1:]...)
					break
				}
			}
		}
		if e.received != nil {
			at := min(e.recvAt, len(msgs))
			msgs = append(msgs[:at], append([]*message{e.received}, msgs[at:]...)...)
		}
	}
	st := &sentrypb.SysvMsgState{Id: q.id, Perm: q.toProto(), Qbytes: q.qbytes, Lspid: q.lspid, Lrpid: q.lrpid,
		Stime: q.stime, Rtime: q.rtime, Ctime: q.ctime}
	for _, m := range msgs {
		st.Messages = append(st.Messages, &sentrypb.SysvMessage{Type: m.typ, Text: m.text})
	}
	return st
}

// AllKeys lists the keys of every live object and the ids record (a
// full report).
func (r *Registry) AllKeys() []statekey.Key {
	r.mu.Lock()
	defer r.mu.Unlock()
	keys := []statekey.Key{keyIDs}
	for _, t := range []*table{r.sems, r.msgs, r.shms} {
		for _, obj := range t.byIndex {
			keys = append(keys, keyOf(t.kind, permOf(obj).id))
		}
	}
	return keys
}

func permFromProto(p *sentrypb.SysvPerm, id int32) perm {
	return perm{key: p.GetKey(), uid: p.GetUid(), gid: p.GetGid(), cuid: p.GetCuid(), cgid: p.GetCgid(),
		mode: p.GetMode(), id: id, index: id % idSeqMultiplier, seq: uint16(id / idSeqMultiplier)}
}

// Restore rebuilds the namespace from a Restore's records, replacing
// what it held; invalid records are skipped and returned as errors.
func (r *Registry) Restore(ids *sentrypb.SysvIds, sems []*sentrypb.SysvSemState, msgs []*sentrypb.SysvMsgState, shms []*sentrypb.SysvShmState) []error {
	r.mu.Lock()
	defer r.mu.Unlock()
	var errs []error
	bad := func(what string, id int32) {
		errs = append(errs, &restoreError{what: what, id: id})
	}
	r.sems, r.msgs, r.shms = newTable(kindSem, maxIDs), newTable(kindMsg, maxIDs), newTable(kindShm, linux.SHMMNI)
	r.pending = make(map[uint64]*effect)
	r.undo = make(map[int32]map[int32][]int32)
	r.attaches = make(map[int32]map[int32]int)
	if ids != nil {
		r.sems.seq, r.msgs.seq, r.shms.seq = uint16(ids.SemSeq), uint16(ids.MsgSeq), uint16(ids.ShmSeq)
		if ids.Msgmni != nil && *ids.Msgmni <= idSeqMultiplier {
			r.msgs.max = int32(*ids.Msgmni)
		}
		if ids.Shmmni != nil && *ids.Shmmni <= idSeqMultiplier {
			r.shms.max = int32(*ids.Shmmni)
		}
		if ids.Shmmax != nil {
			r.shmmax = *ids.Shmmax
		}
		if ids.Shmall != nil {
			r.shmall = *ids.Shmall
		}
		for _, n := range []struct {
			t  *table
			id *int32
		}{{r.sems, ids.SemNextId}, {r.msgs, ids.MsgNextId}, {r.shms, ids.ShmNextId}} {
			if n.id != nil && *n.id >= 0 {
				n.t.nextID = *n.id
			}
		}
	}
	place := func(t *table, p *perm, obj any) bool {
		if p.id < 0 || p.index >= idSeqMultiplier {
			return false
		}
		if _, used := t.byIndex[p.index]; used {
			return false
		}
		t.insert(p, obj)
		return true
	}
	for _, st := range sems {
		n := len(st.Values)
		if n == 0 || n > linux.SEMMSL || (len(st.Pids) != 0 && len(st.Pids) != n) {
			bad("semaphore set", st.Id)
			continue
		}
		s := &semSet{perm: permFromProto(st.Perm, st.Id), vals: make([]int32, n), pids: make([]int32, n),
			otime: st.Otime, ctime: st.Ctime, waiters: make(map[*SemWait]semWaiter)}
		for i, v := range st.Values {
			s.vals[i] = int32(min(v, linux.SEMVMX))
		}
		copy(s.pids, st.Pids)
		if !place(r.sems, &s.perm, s) {
			bad("semaphore set", st.Id)
			continue
		}
		for _, u := range st.Undo {
			if len(u.Adj) != n {
				continue
			}
			r.setUndoLocked(u.Pid, st.Id, append([]int32(nil), u.Adj...))
		}
	}
	for _, st := range msgs {
		q := &queue{perm: permFromProto(st.Perm, st.Id), qbytes: st.Qbytes, lspid: st.Lspid, lrpid: st.Lrpid,
			stime: st.Stime, rtime: st.Rtime, ctime: st.Ctime}
		for _, m := range st.Messages {
			if m.Type < 1 || len(m.Text) > linux.MSGMAX {
				continue
			}
			msg := &message{typ: m.Type, text: m.Text}
			q.msgs = append(q.msgs, msg)
			q.bytes += uint64(len(m.Text))
			if mem := r.hooks.Memory; mem != nil {
				mem.Force(msgCost(msg))
			}
		}
		if !place(r.msgs, &q.perm, q) {
			bad("message queue", st.Id)
		}
	}
	for _, st := range shms {
		s := &segment{perm: permFromProto(st.Perm, st.Id), size: st.Size, cpid: st.Cpid, lpid: st.Lpid,
			atime: st.Atime, dtime: st.Dtime, ctime: st.Ctime, file: st.File}
		if st.Size < linux.SHMMIN || st.Size > shmMax || !validSegmentFile(st.File) || !place(r.shms, &s.perm, s) {
			bad("shared memory segment", st.Id)
			continue
		}
		if st.Removed {
			delete(r.shms.byKey, s.key)
			s.key = linux.IPC_PRIVATE
			s.mode |= linux.SHM_DEST
		}
		for _, a := range st.Attaches {
			if a.Count == 0 {
				continue
			}
			m := r.attaches[a.Pid]
			if m == nil {
				m = make(map[int32]int)
				r.attaches[a.Pid] = m
			}
			m[st.Id] = int(a.Count)
		}
	}
	return errs
}

// SetLimit sets the limit /proc/sys/kernel/<kind> from a write of data:
// "msgmni" and "shmmni" (0 to 32768), "shmmax" and "shmall" (any
// unsigned long), as Linux takes them; or the next id "msg_next_id",
// "sem_next_id", "shm_next_id" (0 to INT_MAX: -1, none, is not
// written but set back by the allocation, as Linux's
// proc_dointvec_minmax bounds it).
func (r *Registry) SetLimit(kind string, data []byte) error {
	text := strings.TrimSpace(string(data))
	r.mu.Lock()
	defer r.mu.Unlock()
	switch kind {
	case "msg_next_id", "sem_next_id", "shm_next_id":
		v, err := strconv.ParseInt(text, 10, 32)
		if err != nil || v < 0 {
			return unix.EINVAL
		}
		r.nextIDTable(kind).nextID = int32(v)
	case "msgmni", "shmmni":
		v, err := strconv.ParseInt(text, 10, 32)
		if err != nil || v < 0 || v > idSeqMultiplier {
			return unix.EINVAL
		}
		if kind == "msgmni" {
			r.msgs.max = int32(v)
		} else {
			r.shms.max = int32(v)
		}
	case "shmmax", "shmall":
		v, err := strconv.ParseUint(text, 10, 64)
		if err != nil {
			return unix.EINVAL
		}
		if kind == "shmmax" {
			r.shmmax = v
		} else {
			r.shmall = v
		}
	default:
		return unix.EINVAL
	}
	r.hooks.Changed(keyIDs)
	return nil
}

// nextIDTable is the table of next id file kind ("msg_next_id",
// "sem_next_id", "shm_next_id").
func (r *Registry) nextIDTable(kind string) *table {
	switch kind {
	case "msg_next_id":
		return r.msgs
	case "sem_next_id":
		return r.sems
	}
	return r.shms
}

// validSegmentFile says name is a file name this package made.
func validSegmentFile(name string) bool {
	return strings.HasPrefix(name, SegmentFilePrefix) && !strings.ContainsAny(name, "/\x00") && len(name) < 128
}

type restoreError struct {
	what string
	id   int32
}

func (e *restoreError) Error() string {
	return "restore " + e.what + " " + strconv.Itoa(int(e.id)) + ": invalid or duplicate record"
}

// ProcFile renders /proc/sysvipc/<kind> ("msg", "sem" or "shm") in
// Linux's format, or the limit or next id /proc/sys/kernel/<kind>
// ("msgmni", "shmmni", "shmmax", "shmall", "msg_next_id",
// "sem_next_id", "shm_next_id").
func (r *Registry) ProcFile(kind string) []byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	var b strings.Builder
	var t *table
	switch kind {
	case "msgmni":
		return []byte(strconv.Itoa(int(r.msgs.max)) + "\n")
	case "shmmni":
		return []byte(strconv.Itoa(int(r.shms.max)) + "\n")
	case "shmmax":
		return []byte(strconv.FormatUint(r.shmmax, 10) + "\n")
	case "shmall":
		return []byte(strconv.FormatUint(r.shmall, 10) + "\n")
	case "msg_next_id", "sem_next_id", "shm_next_id":
		return []byte(strconv.Itoa(int(r.nextIDTable(kind).nextID)) + "\n")
	case "msg":
		t = r.msgs
		b.WriteString("       key      msqid perms      cbytes       qnum lspid lrpid   uid   gid  cuid  cgid      stime      rtime      ctime\n")
	case "sem":
		t = r.sems
		b.WriteString("       key      semid perms      nsems   uid   gid  cuid  cgid      otime      ctime\n")
	case "shm":
		t = r.shms
		b.WriteString("       key      shmid perms                  size  cpid  lpid nattch   uid   gid  cuid  cgid      atime      dtime      ctime                   rss                  swap\n")
	default:
		return nil
	}
	idx := make([]int32, 0, len(t.byIndex))
	for i := range t.byIndex {
		idx = append(idx, i)
	}
	sort.Slice(idx, func(i, j int) bool { return idx[i] < idx[j] })
	for _, i := range idx {
		switch o := t.byIndex[i].(type) {
		case *queue:
			fmt.Fprintf(&b, "%10d %10d  %4o  %10d %10d %5d %5d %5d %5d %5d %5d %10d %10d %10d\n",
				o.key, o.id, o.mode, o.bytes, len(o.msgs), o.lspid, o.lrpid, o.uid, o.gid, o.cuid, o.cgid, o.stime, o.rtime, o.ctime)
		case *semSet:
			fmt.Fprintf(&b, "%10d %10d  %4o %10d %5d %5d %5d %5d %10d %10d\n",
				o.key, o.id, o.mode, len(o.vals), o.uid, o.gid, o.cuid, o.cgid, o.otime, o.ctime)
		case *segment:
			rss := (o.size + 4095) &^ 4095
			fmt.Fprintf(&b, "%10d %10d  %4o %21d %5d %5d  %5d %5d %5d %5d %5d %10d %10d %10d %21d %21d\n",
				o.key, o.id, o.mode, o.size, o.cpid, o.lpid, r.nattchLocked(o.id), o.uid, o.gid, o.cuid, o.cgid, o.atime, o.dtime, o.ctime, rss, 0)
		}
	}
	return []byte(b.String())
}
