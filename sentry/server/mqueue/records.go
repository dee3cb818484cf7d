package mqueue

import (
	"fmt"
	"sort"

	"golang.org/x/sys/unix"

	"github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/fdesc"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/statekey"
)

// effect is what a pending call changed, to leave it out of records: the
// message a send added or a receive took (from the head of the queue),
// and the registration a send fired (its SIGEV_THREAD cookie is an effect
// of the send too: both are the client's with its reply, or neither).
type effect struct {
	q        *Queue
	sent     *message
	received *message
	fired    *Notification
}

// addPendingLocked notes the effect of call seq (0: none to note).
// Precondition: r.mu is held.
func (r *Registry) addPendingLocked(seq uint64, e *effect) {
	if seq != 0 {
		r.pending[seq] = e
	}
}

// Commit says the reply of call seq is being built: its effect is now
// the client's. It returns the key of the record that changed with it
// (to be sent with the reply), or false if the call left none pending.
func (r *Registry) Commit(seq uint64) (statekey.Key, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	e, ok := r.pending[seq]
	if !ok {
		return statekey.Key{}, false
	}
	delete(r.pending, seq)
	return keyOf(e.q.id), true
}

// IsKey says key names a record of this package.
func IsKey(key statekey.Key) bool { return key.Kind == statekey.KindMqueue }

// Record is the current record for key (IsKey), leaving out the effects
// of pending calls.
func (r *Registry) Record(key statekey.Key) *sentrypb.StateRecord {
	r.mu.Lock()
	defer r.mu.Unlock()
	q := r.byID[key.ID]
	if !IsKey(key) || q == nil {
		return &sentrypb.StateRecord{Key: key.String(), Deleted: true}
	}
	var seqs []uint64
	for seq, e := range r.pending {
		if e.q == q {
			seqs = append(seqs, seq)
		}
	}
	sort.Slice(seqs, func(i, j int) bool { return seqs[i] < seqs[j] })
	msgs := append([]*message(nil), q.msgs...)
	// Undo the newest pending call first: a taken message was the head.
	for i := len(seqs) - 1; i >= 0; i-- {
		e := r.pending[seqs[i]]
		if e.sent != nil {
			for j, m := range msgs {
				if m == e.sent {
					msgs = append(msgs[:j], msgs[j+1:]...)
					break
				}
			}
		}
		if e.received != nil {
			msgs = append([]*message{e.received}, msgs...)
		}
	}
	st := &sentrypb.MqueueState{Id: q.id, Name: []byte(q.name), Uid: q.uid, Gid: q.gid, Mode: q.mode,
		Maxmsg: q.maxMsg, Msgsize: q.msgSize}
	for _, m := range msgs {
		st.Messages = append(st.Messages, &sentrypb.MqueueMessage{Priority: m.prio, Data: m.data})
	}
	n := q.notify
	for _, seq := range seqs {
		// A registration a pending send fired, unless another came
		// since.
		if f := r.pending[seq].fired; f != nil && n == nil {
			n = f
		}
	}
	if n != nil {
		st.NotifyPid, st.Notify, st.NotifySigno, st.NotifyValue = n.Pid, n.Notify, n.Signo, n.Value
		if n.Notify == SigevThread {
			st.NotifyCookie, st.NotifySocket = n.Cookie, n.sockID
			if n.Sock != nil && r.hooks.FileID != nil {
				st.NotifySocket = r.hooks.FileID(n.Sock)
			}
		}
	}
	return &sentrypb.StateRecord{Key: key.String(), Value: &sentrypb.StateRecord_Mqueue{Mqueue: st}}
}

// AllKeys lists the keys of every queue (a full report).
func (r *Registry) AllKeys() []statekey.Key {
	r.mu.Lock()
	defer r.mu.Unlock()
	keys := make([]statekey.Key, 0, len(r.byID))
	for id := range r.byID {
		keys = append(keys, keyOf(id))
	}
	return keys
}

// Restore rebuilds the namespace from a Restore's records, replacing
// what it held; invalid records are skipped and returned as errors.
// Queues come back without opens: Reopen adds those of the restored
// descriptions, and the unlinked queues none reopens are removed by
// Restored.
func (r *Registry) Restore(states []*sentrypb.MqueueState) []error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if mem := r.hooks.Memory; mem != nil {
		for _, q := range r.byID {
			for _, m := range q.msgs {
				mem.Release(m.cost())
			}
		}
	}
	r.byName, r.byID = make(map[string]*Queue), make(map[uint64]*Queue)
	r.pending = make(map[uint64]*effect)
	r.nextID = 1
	var errs []error
	for _, st := range states {
		name := string(st.GetName())
		if st.GetId() == 0 || r.byID[st.GetId()] != nil || (name != "" && (checkName(name) != nil || r.byName[name] != nil)) ||
			st.GetMaxmsg() <= 0 || st.GetMaxmsg() > HardMsgMax || st.GetMsgsize() <= 0 || st.GetMsgsize() > HardMsgSizeMax ||
			int64(len(st.GetMessages())) > st.GetMaxmsg() {
			errs = append(errs, fmt.Errorf("restore: message queue %d (%q): %w", st.GetId(), name, unix.EINVAL))
			continue
		}
		q := &Queue{id: st.Id, name: name, uid: st.Uid, gid: st.Gid, mode: st.Mode & 07777, maxMsg: st.Maxmsg, msgSize: st.Msgsize}
		for _, pm := range st.Messages {
			if pm.GetPriority() >= PrioMax || int64(len(pm.GetData())) > q.msgSize {
				errs = append(errs, fmt.Errorf("restore: message queue %d: message of priority %d, %d bytes: %w", q.id, pm.GetPriority(), len(pm.GetData()), unix.EINVAL))
				continue
			}
			m := &message{prio: pm.Priority, data: pm.Data}
			if mem := r.hooks.Memory; mem != nil {
				mem.Force(m.cost())
			}
			q.insertLocked(m)
		}
		if st.NotifyPid != 0 {
			n := &Notification{Pid: st.NotifyPid, Notify: st.Notify, Signo: st.NotifySigno, Value: st.NotifyValue}
			switch {
			case n.Notify == SigevThread && (st.NotifySocket == 0 || len(st.NotifyCookie) != CookieLen):
				errs = append(errs, fmt.Errorf("restore: message queue %d: SIGEV_THREAD registration without its socket or cookie: %w", q.id, unix.EINVAL))
			case n.Notify == SigevThread:
				// Its socket is found once the descriptions are
				// restored (LinkSockets).
				n.Cookie, n.sockID = st.NotifyCookie, st.NotifySocket
				q.notify = n
			default:
				q.notify = n
			}
		}
		if name != "" {
			r.byName[name] = q
		}
		r.byID[q.id] = q
		r.nextID = max(r.nextID, q.id+1)
	}
	return errs
}

// Reopen returns restored queue id with one more open, for a restored
// description (NewFile).
func (r *Registry) Reopen(id uint64) (*Queue, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	q := r.byID[id]
	if q == nil {
		return nil, fmt.Errorf("message queue %d: %w", id, unix.ENOENT)
	}
	q.opens++
	return q, nil
}

// LinkSockets gives the restored SigevThread registrations their sockets:
// file returns the restored description of an id (nil: none). The
// registration takes a reference to it. One whose socket was not
// restored (or is not a CookieSocket) is dropped by Restored.
func (r *Registry) LinkSockets(file func(id uint64) *fdesc.File) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, q := range r.byID {
		n := q.notify
		if n == nil || n.Notify != SigevThread || n.Sock != nil {
			continue
		}
		f := file(n.sockID)
		if f == nil {
			continue
		}
		if _, ok := f.Impl.(CookieSocket); !ok {
			continue
		}
		f.IncRef()
		n.Sock = f
	}
}

// Restored ends a Restore: an unlinked queue no restored description
// opened is removed (its record deleted), and a SigevThread registration
// LinkSockets found no socket for is dropped (its record changed); it
// returns the ids of the queues that lost one, for the caller to log.
func (r *Registry) Restored() []uint64 {
	r.mu.Lock()
	var gone []*Notification
	var lost []uint64
	for _, q := range r.byID {
		if n := q.notify; n != nil && n.Notify == SigevThread && n.Sock == nil {
			q.notify = nil
			lost = append(lost, q.id)
			r.changedLocked(q)
		}
		if r.releaseIfUnusedLocked(q) {
			gone = append(gone, q.notify)
			q.notify = nil
			r.changedLocked(q)
		}
	}
	r.mu.Unlock()
	for _, n := range gone {
		n.drop()
	}
	return lost
}
