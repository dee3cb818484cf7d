package readlease

import "context"

// Owned leases (docs/ARCHITECTURE.md, "The client's read cache"): a
// client that created a regular file for writing, and alone has it
// open, keeps its content itself (its own writes through the
// description, which it posts marked) and answers reads and lseeks of
// it. Nothing is sent for it until the client asks: the creation only
// makes a claim (BeginOwned), which costs no message; the claim holds
// while every change of the inode is a write its creating description's
// client marks as applied to its copy (WithOwnedWrite). Every other
// change of the inode (Changed, BeginChange, ChangedAll) and every open
// of it, by anyone, its creator included (Opened), void the claim; the
// client asks for the lease in the creating open (waited for: its
// reply brings it) or, once a lease lapsed, at the next lseek or read,
// and the claim then grants it (Owned.Grant). The claim's end (the
// application closed the description) forgets the lease without a
// revocation: the client dropped its copy before it closed the
// description. So a file written and closed, or read back, costs no
// frame, and a revocation only when it is opened or changed otherwise
// while its creator holds the lease.

// ownedDev is the Dev of OwnedKey: the number below the path kinds'
// (no gofer device has it).
const ownedDev = pathDevBase - uint64(numPathKinds)

// OwnedKey is the registry key of the owned lease on inode number ino.
// Like path keys, it names the inode number alone.
func OwnedKey(ino uint64) Key { return Key{Dev: ownedDev, Ino: ino} }

// Owned is a description's claim to an owned lease on the file it
// created (BeginOwned). Its fields are immutable; the claim's state is
// the registry's (the entry of key, under Registry.mu).
type Owned struct {
	r   *Registry
	h   *Holder
	key Key
	// changes is the entry's change count when the claim was made: a
	// grant finds it moved if the claim is void.
	changes uint64
}

// BeginOwned makes h's claim to an owned lease on inode number ino,
// which h's call has just created and opened for writing. The caller
// ends it with End when the description is released.
func (r *Registry) BeginOwned(h *Holder, ino uint64) *Owned {
	// A claim keeps the entry (and its change count) as a grant in
	// progress does.
	t := r.Begin(OwnedKey(ino))
	return &Owned{r: r, h: h, key: t.key, changes: t.changes}
}

// Grant gives o's holder an owned lease, if o still holds (nothing but
// the holder's marked writes changed the inode, nothing opened it since
// the claim) and the holder may hold one now. A lease o granted before
// is forgotten (the client asks again only once it lapsed). It returns
// the lease's id and the holder's revocation epoch.
func (o *Owned) Grant() (id, epoch uint64, ok bool) {
	r, h := o.r, o.h
	r.mu.Lock()
	defer r.mu.Unlock()
	e := r.files[o.key]
	if e == nil || e.changes != o.changes || e.changing > 0 {
		return 0, 0, false
	}
	now := r.now()
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.disabled || now.Before(h.pausedUntil) {
		return 0, 0, false
	}
	e.dropHolderLocked(h)
	if h.roomLocked(readBudget) <= 0 {
		r.pruneHolderLocked(h, now)
		if h.roomLocked(readBudget) <= 0 {
			return 0, 0, false
		}
	}
	r.nextID++
	id = r.nextID
	expiry := now.Add(r.ttl)
	e.addLease(h, id, expiry)
	h.addLocked(id, o.key, expiry)
	return id, h.epoch, true
}

// End ends claim o (the application closed its description): the lease it
// granted, if any, is forgotten without a revocation, since its holder
// answers nothing of a description it closed.
func (o *Owned) End() {
	r, h := o.r, o.h
	r.mu.Lock()
	defer r.mu.Unlock()
	e := r.files[o.key]
	if e == nil {
		return
	}
	e.pending--
	h.mu.Lock()
	e.dropHolderLocked(h)
	h.mu.Unlock()
	r.gcLocked(o.key, e)
}

// Opened says that inode number ino is being opened through this server
// (any open but the creation BeginOwned follows): the owned claim on it
// is void and its lease, if granted, revoked, the caller's own client's
// too; Opened returns once each other holder acknowledged (its
// acknowledgment follows the writes it posted) or its lease expired. It
// returns how many waits ended by expiry.
func (r *Registry) Opened(ctx context.Context, ino uint64) int {
	key := OwnedKey(ino)
	r.mu.Lock()
	e := r.files[key]
	if e == nil {
		r.mu.Unlock()
		return 0
	}
	e.changes++
	revs := r.revokeLocked(nil, e, r.now(), HolderOf(ctx))
	r.gcLocked(key, e)
	r.mu.Unlock()
	return r.finish(ctx, revs)
}

// ownedWriteKey marks a context whose change is a write its holder
// applied to its copy of an owned file.
type ownedWriteKey struct{}

// WithOwnedWrite returns ctx marking its changes as writes, through the
// description that holds the owned claim on their file, that
// HolderOf(ctx) applied to its copy (Syscall.owned_write): they neither
// void the claim nor revoke its lease.
func WithOwnedWrite(ctx context.Context) context.Context {
	return context.WithValue(ctx, ownedWriteKey{}, true)
}

// ownedWriteOf says whether ctx is marked by WithOwnedWrite.
func ownedWriteOf(ctx context.Context) bool {
	if ctx == nil {
		return false
	}
	v, _ := ctx.Value(ownedWriteKey{}).(bool)
	return v
}
