package kernel

// Identities kcmp(2) compares that the server keeps no other state for.

// Identity is a kernel object that tasks share or not and nothing else
// is known of on the server: a process's address space (shared by
// CLONE_VM until exec; the client holds its contents), a thread's I/O
// context (CLONE_IO) and its System V semaphore undo list
// (CLONE_SYSVSEM). Tasks that share the object hold the same *Identity.
// Its ID is protected by the kernel lock: 0 until the record of a task
// holding it is first derived (IdentityIDLocked), then the replay id its
// tasks' records carry (ProcessState.vm, ThreadState.io and sysvsem), so
// that a restored server rebuilds the same sharing and kcmp orders the
// objects as before the recovery.
type Identity struct {
	ID uint64
}

// IdentityIDLocked returns id's replay id, assigning it if it has none;
// 0 for nil (a task that has none: a zombie's address space). A newly
// assigned id reaches the client with the record of owner, which is
// touched. Precondition: the kernel lock is held.
func (k *Kernel) IdentityIDLocked(id *Identity, owner ReplayObject) uint64 {
	if id == nil {
		return 0
	}
	if id.ID == 0 {
		id.ID = k.Trk.NewID()
		if owner != nil {
			k.Trk.Changed(owner)
		}
	}
	return id.ID
}

// identityIDLocked is IdentityIDLocked for a record being derived: no
// owner is touched (its record is the one being built).
func (k *Kernel) identityIDLocked(id *Identity) uint64 { return k.IdentityIDLocked(id, nil) }

// restoredIdentity returns the Identity with replay id id among byID,
// adding it; a fresh one for id 0 (a record of a server that predates
// the ids).
func restoredIdentity(byID map[uint64]*Identity, id uint64) *Identity {
	if id == 0 {
		return &Identity{}
	}
	if byID[id] == nil {
		byID[id] = &Identity{ID: id}
	}
	return byID[id]
}

// MayInspectLocked is Linux's ptrace_may_access(target,
// PTRACE_MODE_READ_REALCREDS) for a thread of caller: its own thread
// group always, another process when caller's real ids are target's or
// caller has CAP_SYS_PTRACE (package ptrace). Precondition: the kernel
// lock is held.
func MayInspectLocked(caller, target *Process) bool {
	return caller == target || ptraceMayAccess(caller, target)
}

// KcmpKind is a kcmp(2) type that names one object of a task (not
// KCMP_FILE or KCMP_EPOLL_TFD, which name files by fd).
type KcmpKind int

// The object kinds, numbered as Linux's enum kcmp_type.
const (
	KcmpVM      KcmpKind = 1 // KCMP_VM: the address space
	KcmpFiles   KcmpKind = 2 // KCMP_FILES: the fd table
	KcmpFS      KcmpKind = 3 // KCMP_FS: cwd, root and umask
	KcmpSighand KcmpKind = 4 // KCMP_SIGHAND: the signal dispositions
	KcmpIO      KcmpKind = 5 // KCMP_IO: the I/O context
	KcmpSysvsem KcmpKind = 6 // KCMP_SYSVSEM: the semaphore undo list
)

// TaskGoneLocked says t has exited (a zombie, or a leader whose other
// threads live on): as Linux after do_exit, it has no address space,
// fd table, fs context, I/O context or undo list. Precondition: the
// kernel lock is held.
func TaskGoneLocked(t *Thread) bool { return t.Killed || t.Proc.Zombie || t.Proc.Exiting }

// KcmpObjectIDLocked returns the replay id of t's object of kind, the
// identity kcmp orders objects by (ids are never reused, and a recovery
// keeps them); 0 when t has none (TaskGoneLocked), as Linux's NULL
// pointer, which compares equal to another task's NULL. Precondition:
// the kernel lock is held.
func (k *Kernel) KcmpObjectIDLocked(t *Thread, kind KcmpKind) uint64 {
	p := t.Proc
	if kind != KcmpSighand && TaskGoneLocked(t) {
		return 0
	}
	switch kind {
	case KcmpVM:
		return k.IdentityIDLocked(p.VM, p)
	case KcmpFiles:
		if p.FDs == nil {
			return 0
		}
		if p.FDs.ID() == 0 {
			k.Trk.Changed(p)
		}
		return k.fdTableIDLocked(p.FDs)
	case KcmpFS:
		if p.FS != nil && p.FS.ID == 0 {
			k.Trk.Changed(p.FS)
			k.Trk.Changed(p)
		}
		return k.fsIDLocked(p.FS)
	case KcmpSighand:
		if p.Sig != nil && p.Sig.ID == 0 {
			k.Trk.Changed(SigTable{Handlers: p.Sig})
			k.Trk.Changed(p)
		}
		return k.sigIDLocked(p.Sig)
	case KcmpIO:
		return k.IdentityIDLocked(t.IO, t)
	case KcmpSysvsem:
		return k.IdentityIDLocked(t.SemUndo, t)
	}
	return 0
}
