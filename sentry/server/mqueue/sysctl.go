package mqueue

import "golang.org/x/sys/unix"

// Bounds of the /proc/sys/fs/mqueue numbers a write may set (Linux's
// ipc/mq_sysctl.c: proc_dointvec_minmax between MIN_MSGMAX and
// HARD_MSGMAX for msg_max and msg_default, MIN_MSGSIZEMAX and
// HARD_MSGSIZEMAX for msgsize_max and msgsize_default; queues_max is any
// int, proc_dointvec's).
const (
	minMsgMax     = 1
	minMsgSizeMax = 128
)

// SetLimit sets /proc/sys/fs/mqueue/<name> (queues_max, msg_max,
// msgsize_max, msg_default or msgsize_default) to v: EINVAL out of its
// bounds, EACCES for a name that is none of them. Who may write is the
// file's mode (root's, 0644), as Linux's mq_permissions. The limits
// bind the next mq_open, not the queues that exist.
func (r *Registry) SetLimit(name string, v int) error {
	var p *int64
	lo, hi := int64(minMsgMax), int64(HardMsgMax)
	r.mu.Lock()
	defer r.mu.Unlock()
	switch name {
	case "queues_max":
		// An unsigned int the kernel compares as one: a negative
		// value reads back as written and lifts the limit.
		p, lo, hi = &r.limits.QueuesMax, -1<<31, 1<<31-1
	case "msg_max":
		p = &r.limits.MsgMax
	case "msg_default":
		p = &r.limits.MsgDefault
	case "msgsize_max":
		p, lo, hi = &r.limits.MsgSizeMax, minMsgSizeMax, HardMsgSizeMax
	case "msgsize_default":
		p, lo, hi = &r.limits.MsgSizeDefault, minMsgSizeMax, HardMsgSizeMax
	default:
		return unix.EACCES
	}
	if int64(v) < lo || int64(v) > hi {
		return unix.EINVAL
	}
	*p = int64(v)
	return nil
}

// atQueuesMaxLocked says the namespace holds queues_max queues: every
// queue counts until it is gone, unlinked or not (Linux's
// mq_queues_count, dropped when the inode is evicted), compared as
// unsigned. Precondition: r.mu is held.
func (r *Registry) atQueuesMaxLocked() bool {
	return uint32(len(r.byID)) >= uint32(r.limits.QueuesMax)
}
