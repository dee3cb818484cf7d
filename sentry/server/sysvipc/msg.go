package sysvipc

import (
	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"
)

// message is one queued message.
type message struct {
	typ  int64
	text []byte
}

// queue is a message queue.
type queue struct {
	perm
	msgs         []*message
	bytes        uint64
	qbytes       uint64
	lspid, lrpid int32
	stime, rtime int64
	ctime        int64
	changed      notifier
}

func (r *Registry) queueLocked(id int32) (*queue, error) {
	obj, err := r.msgs.lookup(id)
	if err != nil {
		return nil, err
	}
	return obj.(*queue), nil
}

// MsgGet is msgget(2).
func (r *Registry) MsgGet(c Caller, key int32, flags int32) (int32, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.get(c, kindMsg, key, flags, func(any) error { return nil }, func() error { return nil }, func(p perm) any {
		return &queue{perm: p, qbytes: linux.MSGMNB, ctime: r.nowUnix()}
	})
}

// waitFor returns q's change channel and a cancel that reports EIDRM if
// q was removed meanwhile.
func (r *Registry) waitFor(ch *notifier, removed *bool) (<-chan struct{}, func() error) {
	return ch.wait(), func() error {
		r.mu.Lock()
		defer r.mu.Unlock()
		if *removed {
			return unix.EIDRM
		}
		return nil
	}
}

// MsgSend is msgsnd(2) without its wait (see Semop). The caller checked
// text's size against MSGMAX.
func (r *Registry) MsgSend(c Caller, seq uint64, id int32, typ int64, text []byte, flags int32) (<-chan struct{}, func() error, error) {
	if typ < 1 {
		return nil, nil, unix.EINVAL
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	q, err := r.queueLocked(id)
	if err != nil {
		return nil, nil, err
	}
	if !q.mayAccess(c, 2) {
		return nil, nil, unix.EACCES
	}
	n := uint64(len(text))
	if n+q.bytes > q.qbytes || uint64(len(q.msgs))+1 > q.qbytes {
		if flags&linux.IPC_NOWAIT != 0 {
			return nil, nil, unix.EAGAIN
		}
		ch, cancel := r.waitFor(&q.changed, &q.removed)
		return ch, cancel, nil
	}
	m := &message{typ: typ, text: text}
	if mem := r.hooks.Memory; mem != nil {
		if err := mem.Charge(msgCost(m)); err != nil {
			return nil, nil, unix.ENOMEM // Linux: no memory for the copy
		}
	}
	m.text = append([]byte(nil), text...)
	q.msgs = append(q.msgs, m)
	q.bytes += n
	q.lspid = c.Pid
	q.stime = r.nowUnix()
	q.changed.notify()
	r.addPendingLocked(seq, &effect{k: kindMsg, id: id, sent: m})
	r.changedLocked(kindMsg, id)
	return nil, nil, nil
}

// find returns the index of the message msgrcv takes, or -1.
func (q *queue) find(typ int64, flags int32) int {
	if flags&linux.MSG_COPY != 0 {
		if typ >= 0 && typ < int64(len(q.msgs)) {
			return int(typ)
		}
		return -1
	}
	best := -1
	for i, m := range q.msgs {
		switch {
		case typ == 0:
			return i
		case typ > 0 && flags&linux.MSG_EXCEPT != 0:
			if m.typ != typ {
				return i
			}
		case typ > 0:
			if m.typ == typ {
				return i
			}
		default:
			if m.typ <= -typ && (best < 0 || m.typ < q.msgs[best].typ) {
				best = i
			}
		}
	}
	return best
}

// MsgReceive is msgrcv(2) without its wait (see Semop): it returns the
// message's type and text, cut to size with MSG_NOERROR.
func (r *Registry) MsgReceive(c Caller, seq uint64, id int32, typ int64, size int64, flags int32) (int64, []byte, <-chan struct{}, func() error, error) {
	if id < 0 || size < 0 {
		return 0, nil, nil, nil, unix.EINVAL
	}
	if flags&linux.MSG_COPY != 0 && (flags&linux.IPC_NOWAIT == 0 || flags&linux.MSG_EXCEPT != 0) {
		return 0, nil, nil, nil, unix.EINVAL
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	q, err := r.queueLocked(id)
	if err != nil {
		return 0, nil, nil, nil, err
	}
	if !q.mayAccess(c, 4) {
		return 0, nil, nil, nil, unix.EACCES
	}
	i := q.find(typ, flags)
	if i < 0 {
		if flags&linux.IPC_NOWAIT != 0 {
			return 0, nil, nil, nil, unix.ENOMSG
		}
		ch, cancel := r.waitFor(&q.changed, &q.removed)
		return 0, nil, ch, cancel, nil
	}
	m := q.msgs[i]
	text := m.text
	if int64(len(text)) > size {
		if flags&linux.MSG_NOERROR == 0 {
			return 0, nil, nil, nil, unix.E2BIG
		}
		text = text[:size]
	}
	if flags&linux.MSG_COPY != 0 {
		return m.typ, text, nil, nil, nil
	}
	q.msgs = append(q.msgs[:i], q.msgs[i+1:]...)
	q.bytes -= uint64(len(m.text))
	if mem := r.hooks.Memory; mem != nil {
		mem.Release(msgCost(m))
	}
	q.lrpid = c.Pid
	q.rtime = r.nowUnix()
	q.changed.notify()
	r.addPendingLocked(seq, &effect{k: kindMsg, id: id, received: m, recvAt: i})
	r.changedLocked(kindMsg, id)
	return m.typ, text, nil, nil, nil
}

// MsgStat is msgctl's IPC_STAT, MSG_STAT and MSG_STAT_ANY.
func (r *Registry) MsgStat(c Caller, id int32, cmd int32) (linux.MsqidDS, int32, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	var q *queue
	if cmd == linux.MSG_STAT || cmd == linux.MSG_STAT_ANY {
		obj, err := r.msgs.statIndex(id)
		if err != nil {
			return linux.MsqidDS{}, 0, err
		}
		q = obj.(*queue)
	} else {
		var err error
		if q, err = r.queueLocked(id); err != nil {
			return linux.MsqidDS{}, 0, err
		}
	}
	if cmd != linux.MSG_STAT_ANY && !q.mayAccess(c, 4) {
		return linux.MsqidDS{}, 0, unix.EACCES
	}
	ds := linux.MsqidDS{
		MsgPerm: q.toLinux(), MsgStime: linux.TimeT(q.stime), MsgRtime: linux.TimeT(q.rtime), MsgCtime: linux.TimeT(q.ctime),
		MsgCbytes: q.bytes, MsgQnum: uint64(len(q.msgs)), MsgQbytes: q.qbytes, MsgLspid: q.lspid, MsgLrpid: q.lrpid,
	}
	ret := int32(0)
	if cmd != linux.IPC_STAT {
		ret = q.id
	}
	return ds, ret, nil
}

// MsgSet is msgctl's IPC_SET.
func (r *Registry) MsgSet(c Caller, id int32, ds linux.MsqidDS) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	q, err := r.queueLocked(id)
	if err != nil {
		return err
	}
	if !q.isOwner(c) {
		return unix.EPERM
	}
	if ds.MsgQbytes > linux.MSGMNB && !c.Privileged {
		return unix.EPERM
	}
	if err := q.set(c, ds.MsgPerm); err != nil {
		return err
	}
	q.qbytes = ds.MsgQbytes
	q.ctime = r.nowUnix()
	q.changed.notify()
	r.changedLocked(kindMsg, id)
	return nil
}

// MsgRemove is msgctl's IPC_RMID: blocked calls fail with EIDRM.
func (r *Registry) MsgRemove(c Caller, id int32) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	q, err := r.queueLocked(id)
	if err != nil {
		return err
	}
	if !q.isOwner(c) {
		return unix.EPERM
	}
	r.msgs.remove(&q.perm)
	if mem := r.hooks.Memory; mem != nil {
		for _, m := range q.msgs {
			mem.Release(msgCost(m))
		}
	}
	q.removed = true
	q.changed.notify()
	r.changedLocked(kindMsg, id)
	return nil
}

// MsgInfo is msgctl's IPC_INFO and MSG_INFO; the result is the highest
// used index.
func (r *Registry) MsgInfo(cmd int32) (linux.MsgInfo, int32) {
	r.mu.Lock()
	defer r.mu.Unlock()
	info := linux.MsgInfo{
		MsgPool: linux.MSGPOOL, MsgMap: linux.MSGMAP, MsgMax: linux.MSGMAX, MsgMnb: linux.MSGMNB,
		MsgMni: r.msgs.max, MsgSsz: linux.MSGSSZ, MsgTql: linux.MSGTQL, MsgSeg: linux.MSGSEG,
	}
	if cmd == linux.MSG_INFO {
		msgs, bytes := 0, uint64(0)
		for _, obj := range r.msgs.byIndex {
			q := obj.(*queue)
			msgs += len(q.msgs)
			bytes += q.bytes
		}
		info.MsgPool = int32(len(r.msgs.byIndex))
		info.MsgMap = int32(msgs)
		info.MsgTql = int32(bytes)
	}
	return info, r.msgs.highest()
}
