package mount

import (
	"fmt"
	"path"
	"sort"
	"strings"
	"sync"

	"golang.org/x/sys/unix"

	"github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/procfs"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/statekey"
)

// The fixed mounts every table starts with.
const (
	RootID = 1
	ProcID = 2
	DevID  = 3
	// DevPtsID is /dev/pts, the sentry's devpts (the terminals of
	// /dev/ptmx).
	DevPtsID = 4
	// firstID is the first id given to other mounts.
	firstID = 5
)

// MaxMounts bounds a client's mounts (Linux: fs.mount-max, 100,000; far
// fewer here, as each backed mount holds a gofer directory).
const MaxMounts = 256

// PerMountFlags are the MS_* flags a mount carries (the rest of mount(2)'s
// flags say what to do, not what the mount is).
const PerMountFlags = unix.MS_RDONLY | unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC |
	unix.MS_NOATIME | unix.MS_NODIRATIME | unix.MS_RELATIME | unix.MS_STRICTATIME

// Mount is one mount of the table.
type Mount struct {
	ID, ParentID int
	// FSType is the file system's type ("tmpfs", "proc", "bind" for a
	// bind mount of a host directory made by the gofer, "gofer" for the
	// root); Source what mountinfo shows as its source.
	FSType, Source string
	// Target is the absolute, clean path of the mount point.
	Target string
	// Flags are the mount's MS_* flags (PerMountFlags).
	Flags uint64
	// Data is the file system's options as given (for a record).
	Data string
	// FSOptions are the file system's options as Linux shows them
	// (",size=1024k,mode=755"), from Data.
	FSOptions string
	// Backed says the sentry made the mount and keeps its files in a
	// gofer directory of its own (mount(2) of a tmpfs).
	Backed bool
	// Dev is the device number of the mount's files as stat and
	// mountinfo show it (0 for the root: the gofer's).
	Dev uint64
	// Tmpfs are the parsed options of a tmpfs.
	Tmpfs TmpfsOptions
	// BindPath is a bind mount's source path in the sandbox; Root its
	// path within its own mount ("" for "/").
	BindPath, Root string
	// SuperReadOnly says the file system is read-only (mountinfo's
	// super options), not only the mount (MS_BIND|MS_REMOUNT|MS_RDONLY).
	SuperReadOnly bool
	// Shared is the mount's peer group when it is shared (0: not shared);
	// Master the peer group it receives mounts from when it is a slave
	// (0: none); Unbindable says a bind mount of its files is EINVAL.
	// Changed by SetPropagation and by the mounts that join a group
	// (Table.mu).
	Shared, Master int
	Unbindable     bool
	// NS is the mount namespace the mount is in (0: the sandbox's
	// first). Immutable.
	NS uint64
	// Fixed is, for a mount of a namespace other than the first, the
	// fixed mount (RootID, ProcID, DevID, DevPtsID) it is the copy of; 0
	// for the others. Immutable.
	Fixed int
	// SB is the id of the mount whose gofer directory holds a backed
	// tmpfs's files, when not its own (0): a namespace's copy of a
	// mount shares its files, as Linux's copy shares the superblock.
	// Immutable.
	SB int
}

// FixedKind returns which fixed mount m is or is the copy of (0: none).
func (m *Mount) FixedKind() int {
	if IsFixed(m.ID) {
		return m.ID
	}
	return m.Fixed
}

// Backing returns the id that names a backed tmpfs's gofer directory.
func (m *Mount) Backing() int {
	if m.SB != 0 {
		return m.SB
	}
	return m.ID
}

// Optional are mountinfo's optional fields of the mount, as Linux prints
// them (fs/proc_namespace.c:show_mountinfo): " shared:N", " master:N",
// " unbindable".
func (m *Mount) Optional() string {
	var b strings.Builder
	if m.Shared != 0 {
		fmt.Fprintf(&b, " shared:%d", m.Shared)
	}
	if m.Master != 0 {
		fmt.Fprintf(&b, " master:%d", m.Master)
	}
	if m.Unbindable {
		b.WriteString(" unbindable")
	}
	return b.String()
}

// ReadOnly says the mount is read-only.
func (m *Mount) ReadOnly() bool { return m.Flags&unix.MS_RDONLY != 0 }

// MountOptions are the per-mount options as /proc/<pid>/mountinfo shows
// them (fs/proc_namespace.c:show_mnt_opts).
func (m *Mount) MountOptions() string {
	var b strings.Builder
	if m.ReadOnly() {
		b.WriteString("ro")
	} else {
		b.WriteString("rw")
	}
	for _, f := range []struct {
		flag uint64
		name string
	}{
		{unix.MS_NOSUID, ",nosuid"}, {unix.MS_NODEV, ",nodev"}, {unix.MS_NOEXEC, ",noexec"},
		{unix.MS_NOATIME, ",noatime"}, {unix.MS_NODIRATIME, ",nodiratime"}, {unix.MS_RELATIME, ",relatime"},
	} {
		if m.Flags&f.flag != 0 {
			b.WriteString(f.name)
		}
	}
	return b.String()
}

// Proc returns m as package procfs renders it.
func (m *Mount) Proc() procfs.Mount {
	super := "rw"
	if m.SuperReadOnly {
		super = "ro"
	}
	pm := procfs.Mount{ID: m.ID, ParentID: m.ParentID, Dev: m.Dev, Source: m.Source, Target: m.Target, Root: m.Root,
		FSType: m.FSType, Options: m.MountOptions(), Optional: m.Optional(), FSOptions: m.FSOptions, Super: super + m.FSOptions}
	if pm.Root == "" && m.FSType == "bind" && path.IsAbs(m.Source) {
		// As Linux shows a bind mount: the directory it binds, within
		// its file system (here the host's path).
		pm.Root = m.Source
	}
	return pm
}

// Table is a client's mount table.
type Table struct {
	mu sync.Mutex
	// mounts are the mounts by id; next is the next id to give. Protected
	// by mu.
	mounts map[int]*Mount
	next   int
	// nextGroup is the next peer group id to give. Protected by mu.
	nextGroup int
	// event counts the mounts, unmounts and remounts made (Linux's
	// mnt_namespace.event, which poll of /proc/<pid>/mounts reports), and
	// changed, when not nil, is closed at the next one. Protected by mu.
	event   uint64
	changed chan struct{}
}

// Event returns the number of changes made to the table (mounts,
// unmounts, remounts) and a channel closed at the next one.
func (t *Table) Event() (uint64, <-chan struct{}) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.changed == nil {
		t.changed = make(chan struct{})
	}
	return t.event, t.changed
}

// touchLocked counts a change and wakes Event's waiters. Precondition:
// t.mu.
func (t *Table) touchLocked() {
	t.event++
	if t.changed != nil {
		close(t.changed)
		t.changed = nil
	}
}

// NewTable returns a table with the fixed mounts: the gofer's root (of
// device rootDev), and /proc, /dev and /dev/pts (of device synthDev).
func NewTable(rootDev, synthDev uint64) *Table {
	t := &Table{mounts: make(map[int]*Mount), next: firstID, nextGroup: 1}
	t.mounts[RootID] = &Mount{ID: RootID, FSType: "gofer", Source: "gofer", Target: "/", Flags: unix.MS_RELATIME, Dev: rootDev}
	t.mounts[ProcID] = &Mount{ID: ProcID, ParentID: RootID, FSType: "proc", Source: "proc", Target: "/proc",
		Flags: unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC | unix.MS_RELATIME, Dev: synthDev}
	t.mounts[DevID] = &Mount{ID: DevID, ParentID: RootID, FSType: "tmpfs", Source: "tmpfs", Target: "/dev",
		Flags: unix.MS_NOSUID, FSOptions: ",mode=755", Dev: synthDev}
	t.mounts[DevPtsID] = &Mount{ID: DevPtsID, ParentID: DevID, FSType: "devpts", Source: "devpts", Target: "/dev/pts",
		Flags: unix.MS_NOSUID | unix.MS_NOEXEC | unix.MS_RELATIME, FSOptions: ",gid=5,mode=620,ptmxmode=666", Dev: synthDev}
	return t
}

// ListNS returns the mounts of namespace ns in the order they were made.
func (t *Table) ListNS(ns uint64) []Mount {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []Mount
	for _, m := range t.mounts {
		if m.NS == ns {
			out = append(out, *m)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// FixedID returns the id of fixed mount kind's copy in namespace ns
// (kind itself in the first), or 0.
func (t *Table) FixedID(ns uint64, kind int) int {
	if ns == 0 {
		return kind
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	for id, m := range t.mounts {
		if m.NS == ns && m.Fixed == kind {
			return id
		}
	}
	return 0
}

// CopyNS copies the mounts of namespace from into namespace to, which
// has none, as Linux's copy_mnt_ns (copy_tree with CL_COPY_ALL): each
// copy has a new id and the same files, flags and propagation (a copy
// of a shared mount is its peer, of a slave a slave of the same master,
// of an unbindable one unbindable). It returns the copies, parents
// first, and the id of each one's original by its id.
func (t *Table) CopyNS(from, to uint64) ([]Mount, map[int]int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	var src []*Mount
	for _, m := range t.mounts {
		if m.NS == from {
			src = append(src, m)
		}
		if m.NS == to {
			return nil, nil, fmt.Errorf("mount namespace %d has mounts: %w", to, unix.EINVAL)
		}
	}
	if len(src) > MaxMounts || len(t.mounts)+len(src) > MaxMounts*maxNamespaceTables {
		return nil, nil, fmt.Errorf("%d mounts: %w", len(t.mounts), unix.ENOSPC)
	}
	sort.Slice(src, func(i, j int) bool { return src[i].ID < src[j].ID })
	ids := make(map[int]int, len(src))
	orig := make(map[int]int, len(src))
	out := make([]Mount, 0, len(src))
	for _, m := range src {
		c := *m
		c.ID, c.NS = t.next, to
		t.next++
		ids[m.ID], orig[c.ID] = c.ID, m.ID
		c.ParentID = ids[m.ParentID] // 0 for the root
		if IsFixed(m.ID) {
			c.Fixed = m.ID
		}
		if m.Backed && m.SB == 0 {
			c.SB = m.ID
		}
		nc := c
		t.mounts[c.ID] = &nc
		out = append(out, c)
	}
	t.touchLocked()
	return out, orig, nil
}

// RemoveNS takes every mount of namespace ns (not the first) out of the
// table, when no process is left in it, and returns them, the deepest
// first.
func (t *Table) RemoveNS(ns uint64) []Mount {
	if ns == 0 {
		return nil
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []Mount
	for id, m := range t.mounts {
		if m.NS == ns {
			out = append(out, *m)
			delete(t.mounts, id)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID > out[j].ID })
	if len(out) > 0 {
		t.touchLocked()
	}
	return out
}

// Namespaces returns the namespaces that have mounts.
func (t *Table) Namespaces() map[uint64]bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make(map[uint64]bool)
	for _, m := range t.mounts {
		out[m.NS] = true
	}
	return out
}

// List returns the mounts of every namespace in the order they were
// made.
func (t *Table) List() []Mount {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]Mount, 0, len(t.mounts))
	for _, m := range t.mounts {
		out = append(out, *m)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// Get returns mount id.
func (t *Table) Get(id int) (Mount, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	m := t.mounts[id]
	if m == nil {
		return Mount{}, false
	}
	return *m, true
}

// Len is the number of mounts.
func (t *Table) Len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.mounts)
}

// Add puts m in the table under a new id (or m.ID, when restoring, if
// free), with the mount that holds m.Target as its parent, and returns it.
// Precondition: m.Target is absolute and clean.
func (t *Table) Add(m Mount) (Mount, error) {
	if !path.IsAbs(m.Target) || path.Clean(m.Target) != m.Target {
		return Mount{}, fmt.Errorf("mount target %q: not an absolute clean path: %w", m.Target, unix.EINVAL)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if n := t.countLocked(m.NS); n >= MaxMounts || len(t.mounts) >= MaxMounts*maxNamespaceTables {
		return Mount{}, fmt.Errorf("%d mounts: %w", n, unix.ENOSPC)
	}
	if m.ID == 0 {
		m.ID = t.next
	} else if m.ID < firstID || t.mounts[m.ID] != nil {
		return Mount{}, fmt.Errorf("mount id %d in use: %w", m.ID, unix.EINVAL)
	}
	t.next = max(t.next, m.ID+1)
	t.nextGroup = max(t.nextGroup, m.Shared+1, m.Master+1)
	if m.Fixed == RootID {
		m.ParentID = 0 // a namespace's root, as the first's
	} else {
		m.ParentID = t.holderLocked(m.NS, m.Target)
	}
	nm := m
	t.mounts[m.ID] = &nm
	t.touchLocked()
	return m, nil
}

// countLocked is the number of mounts of namespace ns. Precondition:
// t.mu.
func (t *Table) countLocked(ns uint64) int {
	n := 0
	for _, m := range t.mounts {
		if m.NS == ns {
			n++
		}
	}
	return n
}

// maxNamespaceTables bounds the mounts of all namespaces together, in
// namespaces' worth of MaxMounts.
const maxNamespaceTables = 16

// holderLocked returns the id of the mount of namespace ns whose tree
// holds target: the most recent of the mounts with the longest target
// that is target or one of its ancestors. Precondition: t.mu.
func (t *Table) holderLocked(ns uint64, target string) int {
	best, bestLen := RootID, -1
	for id, m := range t.mounts {
		if m.NS != ns || !within(target, m.Target) {
			continue
		}
		if l := len(m.Target); l > bestLen || (l == bestLen && id > best) {
			best, bestLen = id, l
		}
	}
	return best
}

// within says p is dir or under it.
func within(p, dir string) bool {
	return dir == "/" || p == dir || strings.HasPrefix(p, dir+"/")
}

// Remove takes mount id out of the table; mounts on top of or under it
// go with it when detach (MNT_DETACH), else their presence is EBUSY. It
// returns the mounts removed, the deepest first.
func (t *Table) Remove(id int, detach bool) ([]Mount, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	m := t.mounts[id]
	if m == nil || id < firstID {
		return nil, fmt.Errorf("mount %d: %w", id, unix.EINVAL)
	}
	var gone []Mount
	var collect func(id int)
	collect = func(id int) {
		for cid, c := range t.mounts {
			if c.ParentID == id {
				collect(cid)
			}
		}
		gone = append(gone, *t.mounts[id])
	}
	collect(id)
	if len(gone) > 1 && !detach {
		return nil, fmt.Errorf("mount %d has mounts under it: %w", id, unix.EBUSY)
	}
	for _, g := range gone {
		delete(t.mounts, g.ID)
	}
	t.touchLocked()
	return gone, nil
}

// SetFlags changes mount id's per-mount flags (a remount) and, when
// data is not nil, its file system options.
func (t *Table) SetFlags(id int, flags uint64, data *string, fsopts string, superRO bool) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	m := t.mounts[id]
	if m == nil {
		return unix.EINVAL
	}
	m.Flags = flags & PerMountFlags
	if data != nil {
		m.Data, m.FSOptions, m.SuperReadOnly = *data, fsopts, superRO
	}
	t.touchLocked()
	return nil
}

// SetDev sets mount id's device number.
func (t *Table) SetDev(id int, dev uint64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if m := t.mounts[id]; m != nil {
		m.Dev = dev
	}
}

// SetTmpfs sets mount id's parsed tmpfs options.
func (t *Table) SetTmpfs(id int, o TmpfsOptions) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if m := t.mounts[id]; m != nil {
		m.Tmpfs = o
	}
}

// Record returns mount id's replay record (deleted when it is gone).
func (t *Table) Record(id int) *sentrypb.StateRecord {
	m, ok := t.Get(id)
	if ok && IsFixed(id) && (m.Shared != 0 || m.Master != 0 || m.Unbindable) {
		// A fixed mount has a record only for its propagation.
		return &sentrypb.StateRecord{Key: statekey.Mount(id).String(), Value: &sentrypb.StateRecord_Mount{Mount: &sentrypb.MountState{
			Id: int32(m.ID), Fstype: m.FSType, Target: []byte(m.Target), SharedGroup: int32(m.Shared), MasterGroup: int32(m.Master), Unbindable: m.Unbindable}}}
	}
	if !ok || id < firstID {
		return &sentrypb.StateRecord{Key: statekey.Mount(id).String(), Deleted: true}
	}
	return &sentrypb.StateRecord{Key: statekey.Mount(id).String(), Value: &sentrypb.StateRecord_Mount{Mount: &sentrypb.MountState{
		Id: int32(m.ID), ParentId: int32(m.ParentID), Fstype: m.FSType, Source: []byte(m.Source), Target: []byte(m.Target),
		Flags: m.Flags, Data: []byte(m.Data), Backed: m.Backed, Dev: m.Dev, SuperReadonly: m.SuperReadOnly,
		BindPath: []byte(m.BindPath), Root: []byte(m.Root), SharedGroup: int32(m.Shared), MasterGroup: int32(m.Master), Unbindable: m.Unbindable,
		Ns: m.NS, Fixed: int32(m.Fixed), Sb: int32(m.SB)}}}
}

// FromRecord checks a replay record's mount; Add puts it back.
func FromRecord(st *sentrypb.MountState, totalRAM uint64) (Mount, error) {
	if st == nil || st.Id < firstID || st.Id > 1<<30 || !path.IsAbs(string(st.Target)) || path.Clean(string(st.Target)) != string(st.Target) ||
		st.Fstype == "" || len(st.Source) > 4096 || len(st.Data) > 4096 || st.Flags&^PerMountFlags != 0 {
		return Mount{}, fmt.Errorf("bad mount record: %w", unix.EINVAL)
	}
	m := Mount{ID: int(st.Id), FSType: st.Fstype, Source: string(st.Source), Target: string(st.Target), Flags: st.Flags,
		Data: string(st.Data), Backed: st.Backed, Dev: st.Dev, SuperReadOnly: st.SuperReadonly,
		BindPath: string(st.BindPath), Root: string(st.Root), Shared: int(st.SharedGroup), Master: int(st.MasterGroup), Unbindable: st.Unbindable,
		NS: st.Ns, Fixed: int(st.Fixed), SB: int(st.Sb)}
	if st.Ns > MaxNamespace || (m.Fixed != 0 && (!IsFixed(m.Fixed) || m.NS == 0)) || m.SB < 0 || m.SB >= m.ID {
		return Mount{}, fmt.Errorf("bad mount record: namespace: %w", unix.EINVAL)
	}
	if m.Shared < 0 || m.Shared > 1<<30 || m.Master < 0 || m.Master > 1<<30 {
		return Mount{}, fmt.Errorf("bad mount record: peer group: %w", unix.EINVAL)
	}
	if m.BindPath != "" && (!path.IsAbs(m.BindPath) || len(m.BindPath) >= 4096 || !path.IsAbs(m.Root)) {
		return Mount{}, fmt.Errorf("bad bind mount record: %w", unix.EINVAL)
	}
	if m.Fixed != 0 {
		// A copy of a fixed mount: its options are the fixed mount's.
		m.FSOptions = NewTable(0, 0).mounts[m.Fixed].FSOptions
	} else if st.Fstype == "tmpfs" || st.Fstype == "mqueue" {
		o, err := ParseTmpfsOptions(string(st.Data), totalRAM)
		if err != nil {
			return Mount{}, err
		}
		m.Tmpfs, m.FSOptions = o, o.String()
	}
	return m, nil
}

// MaxNamespace bounds a mount namespace's number.
const MaxNamespace = 1 << 30

// IsFixed says id is one of the mounts every table starts with.
func IsFixed(id int) bool { return id >= RootID && id < firstID }

// RestoreFixedPropagation gives fixed mount st.Id the propagation of its
// record.
func (t *Table) RestoreFixedPropagation(st *sentrypb.MountState) error {
	if st == nil || !IsFixed(int(st.Id)) || st.SharedGroup < 0 || st.SharedGroup > 1<<30 || st.MasterGroup < 0 || st.MasterGroup > 1<<30 {
		return fmt.Errorf("bad fixed mount record: %w", unix.EINVAL)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	m := t.mounts[int(st.Id)]
	m.Shared, m.Master, m.Unbindable = int(st.SharedGroup), int(st.MasterGroup), st.Unbindable
	t.nextGroup = max(t.nextGroup, m.Shared+1, m.Master+1)
	return nil
}

// SetPropagation changes mount id's propagation (MS_SHARED, MS_PRIVATE,
// MS_SLAVE or MS_UNBINDABLE; with rec, that of the mounts under it too)
// as Linux's change_mnt_propagation does, and returns the ids changed.
func (t *Table) SetPropagation(id int, kind uint64, rec bool) ([]int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.mounts[id] == nil {
		return nil, fmt.Errorf("mount %d: %w", id, unix.EINVAL)
	}
	ids := []int{id}
	if rec {
		ids = t.underLocked(id)
	}
	for _, mid := range ids {
		m := t.mounts[mid]
		switch kind {
		case unix.MS_SHARED:
			if m.Shared == 0 {
				m.Shared = t.nextGroup
				t.nextGroup++
			}
			m.Unbindable = false
		case unix.MS_PRIVATE:
			m.Shared, m.Master, m.Unbindable = 0, 0, false
		case unix.MS_SLAVE, unix.MS_UNBINDABLE:
			// do_make_slave: a shared mount with peers becomes their
			// slave; one without keeps its master (if any).
			if m.Shared != 0 && t.hasPeerLocked(m) {
				m.Master = m.Shared
			}
			m.Shared = 0
			m.Unbindable = kind == unix.MS_UNBINDABLE
		default:
			return nil, fmt.Errorf("propagation %#x: %w", kind, unix.EINVAL)
		}
	}
	return ids, nil
}

// underLocked returns id and the ids of the mounts under it, parents
// first. Precondition: t.mu.
func (t *Table) underLocked(id int) []int {
	out := []int{id}
	for i := 0; i < len(out); i++ {
		var kids []int
		for cid, c := range t.mounts {
			if c.ParentID == out[i] && cid != out[i] {
				kids = append(kids, cid)
			}
		}
		sort.Ints(kids)
		out = append(out, kids...)
	}
	return out
}

// hasPeerLocked says another mount is in m's peer group. Precondition:
// t.mu.
func (t *Table) hasPeerLocked(m *Mount) bool {
	for _, o := range t.mounts {
		if o != m && o.Shared == m.Shared {
			return true
		}
	}
	return false
}

// NewGroup returns a new peer group id.
func (t *Table) NewGroup() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.nextGroup++
	return t.nextGroup - 1
}

// SetShared puts mount id in peer group g.
func (t *Table) SetShared(id, g int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if m := t.mounts[id]; m != nil {
		m.Shared = g
	}
}

// Receivers returns the mounts that receive the mounts made under mount
// id (Linux's propagate_mnt): its peers, and the slaves of its group,
// but not id itself.
func (t *Table) Receivers(id int) []Mount {
	t.mu.Lock()
	defer t.mu.Unlock()
	m := t.mounts[id]
	if m == nil || m.Shared == 0 {
		return nil
	}
	var out []Mount
	for oid, o := range t.mounts {
		if oid != id && (o.Shared == m.Shared || o.Master == m.Shared) {
			out = append(out, *o)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// PathIn returns where path p, a path under mount from's target, is in
// mount to, which shows the same files (a peer or a slave): ok is false
// when to does not show p's directory.
func PathIn(from, to Mount, p string) (string, bool) {
	rel := strings.TrimPrefix(p, from.Target)
	if from.Target == "/" {
		rel = p
	}
	fsPath := path.Clean(rootOf(from) + "/" + rel)
	toRoot := rootOf(to)
	if !within(fsPath, toRoot) {
		return "", false
	}
	return path.Clean(to.Target + "/" + strings.TrimPrefix(fsPath, toRoot)), true
}

// rootOf is m's root within its file system ("/" for "").
func rootOf(m Mount) string {
	if m.Root == "" {
		return "/"
	}
	return m.Root
}
