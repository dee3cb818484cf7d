package sysvipc

import (
	"sync"
	"time"

	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"

	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/memacct"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/statekey"
)

// Caller is the process making a call, with its effective credentials.
type Caller struct {
	Pid    int32
	UID    uint32
	GID    uint32
	Groups []uint32
	// Privileged is CAP_IPC_OWNER, CAP_SYS_ADMIN and CAP_SYS_RESOURCE
	// (the sandbox's root).
	Privileged bool
}

func (c Caller) inGroup(gid uint32) bool {
	if c.GID == gid {
		return true
	}
	for _, g := range c.Groups {
		if g == gid {
			return true
		}
	}
	return false
}

// Hooks connect the registry to the server.
type Hooks struct {
	// Changed marks a record key dirty (called with Registry.mu held).
	Changed func(key statekey.Key)
	// Memory, if set, is the client's memory cap that queued messages
	// are charged to (called with Registry.mu held: it must not block).
	Memory memacct.Memory
}

// msgOverhead is what a queued message costs beyond its text (about
// Linux's struct msg_msg), so that empty messages count too.
const msgOverhead = 48

// msgCost is what message m holds of the client's memory.
func msgCost(m *message) int64 { return int64(len(m.text)) + msgOverhead }

// kind tells the three kinds of object apart.
type kind int

const (
	kindSem kind = iota
	kindMsg
	kindShm
)

// Per-namespace limits (Linux's defaults).
const (
	maxIDs = 32000 // SEMMNI, MSGMNI; shm uses SHMMNI
	// idSeqMultiplier is Linux's IPCMNI: an id is seq*32768 + index.
	idSeqMultiplier = 32768
)

// perm is struct kern_ipc_perm.
type perm struct {
	key        int32
	uid, gid   uint32
	cuid, cgid uint32
	mode       uint32 // permission bits and SHM_DEST/SHM_LOCKED
	seq        uint16
	index      int32
	id         int32
	// removed says the object is gone (IPC_RMID; a segment's last
	// detach after it): its waiters get EIDRM.
	removed bool
}

func newPerm(key int32, c Caller, mode uint32) perm {
	return perm{key: key, uid: c.UID, gid: c.GID, cuid: c.UID, cgid: c.GID, mode: mode & 0777}
}

// mayAccess is ipcperms: want is a mask of 4 (read) and 2 (write).
func (p *perm) mayAccess(c Caller, want uint32) bool {
	granted := p.mode
	switch {
	case c.UID == p.cuid || c.UID == p.uid:
		granted >>= 6
	case c.inGroup(p.cgid) || c.inGroup(p.gid):
		granted >>= 3
	}
	if want&^granted&7 == 0 {
		return true
	}
	return c.Privileged
}

// isOwner says c may change or remove the object (IPC_SET, IPC_RMID).
func (p *perm) isOwner(c Caller) bool {
	return c.UID == p.uid || c.UID == p.cuid || c.Privileged
}

func (p *perm) toLinux() linux.IPCPerm {
	return linux.IPCPerm{Key: uint32(p.key), UID: p.uid, GID: p.gid, CUID: p.cuid, CGID: p.cgid, Mode: uint16(p.mode), Seq: p.seq}
}

// set applies IPC_SET's uid, gid and mode.
func (p *perm) set(c Caller, np linux.IPCPerm) error {
	if !p.isOwner(c) {
		return unix.EPERM
	}
	p.uid, p.gid = np.UID, np.GID
	p.mode = p.mode&^0777 | uint32(np.Mode)&0777
	return nil
}

// table is the id space of one kind.
type table struct {
	kind kind
	max  int32
	seq  uint16
	// nextID is /proc/sys/kernel/<kind>_next_id: the id the next object
	// made gets (CONFIG_CHECKPOINT_RESTORE), -1 for none.
	nextID  int32
	byIndex map[int32]any
	byKey   map[int32]int32 // key -> index
}

func newTable(k kind, max int32) *table {
	return &table{kind: k, max: max, nextID: -1, byIndex: make(map[int32]any), byKey: make(map[int32]int32)}
}

// alloc picks the lowest free index and the next sequence number; the
// limit (msgmni, shmmni) bounds how many objects exist, as Linux's.
//
// A pending nextID is taken instead, as Linux's ipc_idr_alloc takes
// ids->next_id: its sequence number as it is (the table's stays as it
// was) and its index, or the lowest free one above it when that one is
// used (idr_alloc from it), and it goes back to -1 whether or not an
// index was found. The limit is checked first and leaves it pending (as
// ipc_addid). Linux would hand out an index past IPCMNI, an id that
// means another index; here there is none: ENOSPC.
func (t *table) alloc(p *perm) error {
	if int32(len(t.byIndex)) >= t.max {
		return unix.ENOSPC
	}
	if next := t.nextID; next >= 0 {
		t.nextID = -1
		for i := next % idSeqMultiplier; i < idSeqMultiplier; i++ {
			if _, used := t.byIndex[i]; !used {
				p.index = i
				p.seq = uint16(next / idSeqMultiplier)
				p.id = int32(p.seq)*idSeqMultiplier + i
				return nil
			}
		}
		return unix.ENOSPC
	}
	for i := int32(0); i < idSeqMultiplier; i++ {
		if _, used := t.byIndex[i]; !used {
			p.index = i
			p.seq = t.seq
			t.seq++
			if int(t.seq)*idSeqMultiplier > 1<<31-idSeqMultiplier {
				t.seq = 0
			}
			p.id = int32(p.seq)*idSeqMultiplier + i
			return nil
		}
	}
	return unix.ENOSPC
}

func (t *table) insert(p *perm, obj any) {
	t.byIndex[p.index] = obj
	if p.key != linux.IPC_PRIVATE {
		t.byKey[p.key] = p.index
	}
}

func (t *table) remove(p *perm) {
	delete(t.byIndex, p.index)
	if idx, ok := t.byKey[p.key]; ok && idx == p.index {
		delete(t.byKey, p.key)
	}
}

// lookup finds the object with id (EINVAL if none, as Linux's
// ipc_obtain_object_check).
func (t *table) lookup(id int32) (any, error) {
	if id < 0 {
		return nil, unix.EINVAL
	}
	obj, ok := t.byIndex[id%idSeqMultiplier]
	if !ok || permOf(obj).id != id {
		return nil, unix.EINVAL
	}
	return obj, nil
}

// highest is the highest used index (-1 if none), for IPC_INFO's result.
func (t *table) highest() int32 {
	h := int32(-1)
	for i := range t.byIndex {
		h = max(h, i)
	}
	return h
}

func permOf(obj any) *perm {
	switch o := obj.(type) {
	case *semSet:
		return &o.perm
	case *queue:
		return &o.perm
	case *segment:
		return &o.perm
	}
	panic("sysvipc: unknown object")
}

// Registry is one IPC namespace.
type Registry struct {
	hooks Hooks

	mu sync.Mutex
	// The three id spaces. Protected by mu.
	sems, msgs, shms *table
	// pending are the effects of calls not yet committed, by call seq.
	// Protected by mu.
	pending map[uint64]*effect
	// undo are the SEM_UNDO adjustments: pid -> set id -> one per sem.
	// Protected by mu.
	undo map[int32]map[int32][]int32
	// attaches count shmat's not yet detached: pid -> shm id -> count.
	// Protected by mu.
	attaches map[int32]map[int32]int
	// shmmax and shmall are the segment size and total page limits
	// (/proc/sys/kernel). Protected by mu.
	shmmax, shmall uint64
	// now is the clock of the objects' times. Immutable.
	now func() time.Time
}

// NewRegistry returns an empty namespace.
func NewRegistry(h Hooks) *Registry {
	if h.Changed == nil {
		h.Changed = func(statekey.Key) {}
	}
	return &Registry{
		hooks:    h,
		sems:     newTable(kindSem, maxIDs),
		msgs:     newTable(kindMsg, maxIDs),
		shms:     newTable(kindShm, linux.SHMMNI),
		pending:  make(map[uint64]*effect),
		undo:     make(map[int32]map[int32][]int32),
		attaches: make(map[int32]map[int32]int),
		shmmax:   linux.SHMMAX,
		shmall:   linux.SHMALL,
		now:      time.Now,
	}
}

func (r *Registry) tableOf(k kind) *table {
	switch k {
	case kindSem:
		return r.sems
	case kindMsg:
		return r.msgs
	}
	return r.shms
}

// keyIDs is the key of the id sequences' record.
var keyIDs = statekey.SysvIDs()

// keyOf is the record key of object id of kind k.
func keyOf(k kind, id int32) statekey.Key {
	switch k {
	case kindSem:
		return statekey.SysvSem(id)
	case kindMsg:
		return statekey.SysvMsg(id)
	}
	return statekey.SysvShm(id)
}

// changedLocked marks obj's record (and the id sequences) dirty.
func (r *Registry) changedLocked(k kind, id int32) {
	r.hooks.Changed(keyOf(k, id))
}

// get finds (or with IPC_CREAT makes, through create) the object for
// key, as ipcget: the common half of semget, msgget and shmget.
// check validates an existing object (sizes); create makes a new one.
func (r *Registry) get(c Caller, k kind, key int32, flags int32, check func(obj any) error, validate func() error, create func(p perm) any) (int32, error) {
	t := r.tableOf(k)
	mode := uint32(flags) & 0777
	if key != linux.IPC_PRIVATE {
		if idx, ok := t.byKey[key]; ok {
			obj := t.byIndex[idx]
			p := permOf(obj)
			if flags&linux.IPC_CREAT != 0 && flags&linux.IPC_EXCL != 0 {
				return 0, unix.EEXIST
			}
			// ipcperms on the requested mode bits (read 4, write 2).
			want := (mode >> 6) | (mode >> 3) | mode
			if !p.mayAccess(c, want&6) {
				return 0, unix.EACCES
			}
			if err := check(obj); err != nil {
				return 0, err
			}
			return p.id, nil
		}
		if flags&linux.IPC_CREAT == 0 {
			return 0, unix.ENOENT
		}
	}
	// Linux checks the new object's own arguments and limits (newque,
	// newary, newseg) before it allocates the id, which fails ENOSPC
	// once the table is full: a bad size is EINVAL even then.
	if err := validate(); err != nil {
		return 0, err
	}
	p := newPerm(key, c, mode)
	prevNext := t.nextID
	if err := t.alloc(&p); err != nil {
		if t.nextID != prevNext {
			r.hooks.Changed(keyIDs) // the next id was used up
		}
		return 0, err
	}
	obj := create(p)
	t.insert(permOf(obj), obj)
	r.changedLocked(k, p.id)
	r.hooks.Changed(keyIDs)
	return p.id, nil
}

// statIndex resolves the id argument of SEM_STAT, MSG_STAT, SHM_STAT
// (an index into the table) to the object.
func (t *table) statIndex(index int32) (any, error) {
	if index < 0 {
		return nil, unix.EINVAL
	}
	obj, ok := t.byIndex[index]
	if !ok {
		return nil, unix.EINVAL
	}
	return obj, nil
}

// nowUnix is the current time in seconds.
func (r *Registry) nowUnix() int64 { return r.now().Unix() }

// notify closes and replaces an object's change channel.
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

// effect is what a pending call changed, to leave it out of records.
type effect struct {
	k  kind
	id int32
	// semop: the deltas applied per semaphore and the undo deltas of pid.
	semDelta  map[uint16]int32
	undoDelta map[uint16]int32
	pid       int32
	// msgsnd: the message added; msgrcv: the message taken and the
	// index it had.
	sent     *message
	received *message
	recvAt   int
}

// Commit says the reply of call seq is being built: its effects are now
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
	return keyOf(e.k, e.id), true
}

// addPendingLocked notes the effect of call seq (0: none to note).
func (r *Registry) addPendingLocked(seq uint64, e *effect) {
	if seq == 0 {
		return
	}
	r.pending[seq] = e
}
