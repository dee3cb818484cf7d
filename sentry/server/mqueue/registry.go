package mqueue

import (
	"strings"
	"sync"

	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"

	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/auth"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/fdesc"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/memacct"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/statekey"
)

// Limits of Linux's mqueue (include/linux/ipc_namespace.h and
// ipc/mqueue.c) and of its /proc/sys/fs/mqueue defaults.
const (
	// PrioMax is MQ_PRIO_MAX: priorities are below it.
	PrioMax = 32768
	// HardMsgMax and HardMsgSizeMax bound a queue's attributes for a
	// caller with CAP_SYS_RESOURCE (HARD_MSGMAX, HARD_MSGSIZEMAX).
	HardMsgMax     = 65536
	HardMsgSizeMax = 16 << 20
	// NameMax is NAME_MAX, the longest queue name.
	NameMax = 255
)

// Limits are the namespace's /proc/sys/fs/mqueue values.
type Limits struct {
	// MsgMax and MsgSizeMax bound the attributes an unprivileged caller
	// may ask for; QueuesMax how many queues exist (beyond it ENOSPC
	// without CAP_SYS_RESOURCE); MsgDefault and MsgSizeDefault are the
	// attributes of a queue created without them.
	MsgMax, MsgSizeMax, QueuesMax, MsgDefault, MsgSizeDefault int64
}

// DefaultLimits are Linux's defaults (DFLT_MSGMAX, DFLT_MSGSIZEMAX,
// DFLT_QUEUESMAX, DFLT_MSG, DFLT_MSGSIZE).
var DefaultLimits = Limits{MsgMax: 10, MsgSizeMax: 8192, QueuesMax: 256, MsgDefault: 10, MsgSizeDefault: 8192}

// Caller is the process making a call.
type Caller struct {
	Pid   int32
	Creds auth.Creds
	// Umask is the caller's file mode creation mask (mq_open's mode).
	Umask uint32
}

// resource says c may exceed the namespace's limits (CAP_SYS_RESOURCE).
func (c Caller) resource() bool { return c.Creds.Capable(linux.CAP_SYS_RESOURCE) }

// Hooks connect the registry to the server.
type Hooks struct {
	// Changed marks a record key dirty (called with Registry.mu held).
	Changed func(key statekey.Key)
	// Memory, if set, is the client's memory cap that queued messages
	// are charged to (called with Registry.mu held: it must not block).
	Memory memacct.Memory
	// FileID, if set, is a description's record id (kernel.Kernel's
	// FileID), which a SigevThread registration's record names its
	// socket by (called with Registry.mu held).
	FileID func(*fdesc.File) uint64
}

// msgOverhead is what a queued message costs beyond its text (about
// Linux's struct msg_msg), so that empty messages count too.
const msgOverhead = 48

// Registry is one IPC namespace's message queues.
type Registry struct {
	// hooks are immutable.
	hooks Hooks

	mu sync.Mutex
	// byName are the queues that have a name; byID every queue, named or
	// unlinked but open. Protected by mu.
	byName map[string]*Queue
	byID   map[uint64]*Queue
	// nextID is the id of the next queue made. Protected by mu.
	nextID uint64
	// limits are /proc/sys/fs/mqueue's, changed by SetLimit; not in
	// the replay state (as the kernel's other sysctls). Protected by mu.
	limits Limits
	// pending are the effects of calls not yet committed, by call seq.
	// Protected by mu.
	pending map[uint64]*effect
}

// NewRegistry returns an empty namespace with Linux's default limits.
func NewRegistry(h Hooks) *Registry {
	if h.Changed == nil {
		h.Changed = func(statekey.Key) {}
	}
	return &Registry{
		hooks:   h,
		byName:  make(map[string]*Queue),
		byID:    make(map[uint64]*Queue),
		nextID:  1,
		limits:  DefaultLimits,
		pending: make(map[uint64]*effect),
	}
}

// Limits returns the namespace's limits.
func (r *Registry) Limits() Limits {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.limits
}

// checkName is lookup_one_len's check of the name the kernel received
// (glibc strips the leading '/'): getname already refused an empty one
// (ENOENT).
func checkName(name string) error {
	if name == "." || name == ".." || strings.ContainsRune(name, '/') {
		return unix.EACCES
	}
	if len(name) > NameMax {
		return unix.ENAMETOOLONG
	}
	return nil
}

// rootAttrs are /dev/mqueue's attributes (the mqueue root, 01777 root's).
var rootAttrs = auth.FileAttrs{Mode: unix.S_IFDIR | 01777}

// OpenOpts are mq_open's arguments.
type OpenOpts struct {
	Name  string
	Flags int32
	Mode  uint32
	// Attr is the struct mq_attr's maxmsg and msgsize, nil if none was
	// given.
	Attr *Attr
}

// Attr is a queue's struct mq_attr.
type Attr struct {
	Flags, MaxMsg, MsgSize, CurMsgs int64
}

// Open is mq_open(2) after its arguments are copied in: it finds (or
// with O_CREAT makes) the queue and returns it, referenced by a new
// open; the caller makes the File (NewFile), or drops the reference with
// Close. Errors come in ipc/mqueue.c's order.
func (r *Registry) Open(c Caller, o OpenOpts) (*Queue, error) {
	if o.Name == "" {
		return nil, unix.ENOENT
	}
	if err := checkName(o.Name); err != nil {
		return nil, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	q := r.byName[o.Name]
	if q == nil {
		if o.Flags&unix.O_CREAT == 0 {
			return nil, unix.ENOENT
		}
		return r.createLocked(c, o)
	}
	if o.Flags&(unix.O_CREAT|unix.O_EXCL) == unix.O_CREAT|unix.O_EXCL {
		return nil, unix.EEXIST
	}
	var acc uint32
	switch o.Flags & unix.O_ACCMODE {
	case unix.O_RDONLY:
		acc = auth.MayRead
	case unix.O_WRONLY:
		acc = auth.MayWrite
	case unix.O_RDWR:
		acc = auth.MayRead | auth.MayWrite
	default:
		return nil, unix.EINVAL
	}
	if !c.Creds.Permits(q.attrs(), acc) {
		return nil, unix.EACCES
	}
	q.opens++
	return q, nil
}

// createLocked makes queue o.Name (mqueue_create_attr, mqueue_get_inode).
// Precondition: r.mu is held.
func (r *Registry) createLocked(c Caller, o OpenOpts) (*Queue, error) {
	if r.atQueuesMaxLocked() && !c.resource() {
		return nil, unix.ENOSPC
	}
	maxMsg, msgSize := min(r.limits.MsgMax, r.limits.MsgDefault), min(r.limits.MsgSizeMax, r.limits.MsgSizeDefault)
	if o.Attr != nil {
		maxMsg, msgSize = o.Attr.MaxMsg, o.Attr.MsgSize
	}
	if maxMsg <= 0 || msgSize <= 0 {
		return nil, unix.EINVAL
	}
	if c.resource() {
		if maxMsg > HardMsgMax || msgSize > HardMsgSizeMax {
			return nil, unix.EINVAL
		}
	} else if maxMsg > r.limits.MsgMax || msgSize > r.limits.MsgSizeMax {
		return nil, unix.EINVAL
	}
	q := &Queue{
		id: r.nextID, name: o.Name,
		uid: c.Creds.FSUID, gid: c.Creds.FSGID, mode: o.Mode &^ c.Umask & 07777,
		maxMsg: maxMsg, msgSize: msgSize, opens: 1,
	}
	r.nextID++
	r.byName[q.name] = q
	r.byID[q.id] = q
	r.changedLocked(q)
	return q, nil
}

// Unlink is mq_unlink(2): the queue loses its name, and goes with its
// last open description.
func (r *Registry) Unlink(c Caller, name string) error {
	if name == "" {
		return unix.ENOENT
	}
	if err := checkName(name); err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	q := r.byName[name]
	if q == nil {
		return unix.ENOENT
	}
	// Only the queue's owner (or CAP_FOWNER) may: the mqueue root is
	// sticky. Linux 6.18 answers EACCES there, not the EPERM of other
	// sticky directories.
	if !c.Creds.MayDelete(rootAttrs, q.attrs()) {
		return unix.EACCES
	}
	delete(r.byName, name)
	q.name = ""
	r.releaseIfUnusedLocked(q)
	r.changedLocked(q)
	return nil
}

// Close drops an open of q (a File's Release, or an Open whose
// description was not made).
func (r *Registry) Close(q *Queue) {
	r.mu.Lock()
	q.opens--
	var gone *Notification
	if r.releaseIfUnusedLocked(q) {
		gone, q.notify = q.notify, nil
		r.changedLocked(q)
	}
	r.mu.Unlock()
	// A registration another process's close left (Linux's
	// mqueue_evict_inode sends nothing) lets its socket go.
	gone.drop()
}

// releaseIfUnusedLocked removes q if it has neither a name nor an open
// description, giving back its messages' memory, and says whether it
// did. Blocked callers learn of it when their description is closed.
// Precondition: r.mu is held.
func (r *Registry) releaseIfUnusedLocked(q *Queue) bool {
	if q.name != "" || q.opens > 0 || q.gone {
		return false
	}
	delete(r.byID, q.id)
	q.gone = true
	if mem := r.hooks.Memory; mem != nil {
		for _, m := range q.msgs {
			mem.Release(m.cost())
		}
	}
	q.changed.notify()
	return true
}

// Names lists the named queues (/dev/mqueue's entries).
func (r *Registry) Names() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	names := make([]string, 0, len(r.byName))
	for n := range r.byName {
		names = append(names, n)
	}
	return names
}

// Count is how many queues have a name.
func (r *Registry) Count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.byName)
}

// changedLocked marks q's record dirty. Precondition: r.mu is held.
func (r *Registry) changedLocked(q *Queue) { r.hooks.Changed(keyOf(q.id)) }

// keyOf is queue id's record key.
func keyOf(id uint64) statekey.Key { return statekey.Mqueue(id) }

// notifier is a queue's change channel: closed and replaced on a change.
type notifier struct{ ch chan struct{} }

func (n *notifier) wait() <-chan struct{} {
	if n.ch == nil {
		n.ch = make(chan struct{})
	}
	return n.ch
}

func (n *notifier) notify() {
	if n.ch != nil {
		close(n.ch)
		n.ch = nil
	}
}
