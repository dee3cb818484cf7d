package readlease

import (
	"context"
	"time"
)

// Owned leases (docs/ARCHITECTURE.md, "The client's read cache"): a
// client that created a regular file for writing, and alone has it
// open, keeps its content itself (its own writes through the
// description, which it posts) and answers reads and lseeks of it. The
// lease is on the inode's owned key: every change of the inode revokes
// it (Changed, BeginChange, ChangedAll) but the writes its holder marks
// as applied to its copy (WithOwnedWrite), and so does every open of
// the inode, by anyone, its holder included (Opened): a second opener
// must read what the holder wrote, which the holder then has sent.

// ownedDev is the Dev of OwnedKey: the number below the path kinds'
// (no gofer device has it).
const ownedDev = pathDevBase - uint64(numPathKinds)

// OwnedKey is the registry key of the owned lease on inode number ino.
// Like path keys, it names the inode number alone.
func OwnedKey(ino uint64) Key { return Key{Dev: ownedDev, Ino: ino} }

// GrantOwned gives h an owned lease on inode number ino, which the
// caller has just created and opened: it fails (ok false) if h may hold
// no lease now, holds too many, or the inode is being changed
// (BeginChange). It returns the lease's id and h's revocation epoch.
func (r *Registry) GrantOwned(h *Holder, ino uint64) (id, epoch uint64, ok bool) {
	key := OwnedKey(ino)
	r.mu.Lock()
	defer r.mu.Unlock()
	e := r.files[key]
	if e != nil && e.changing > 0 {
		return 0, 0, false
	}
	now := r.now()
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.disabled || now.Before(h.pausedUntil) {
		return 0, 0, false
	}
	if len(h.leases) >= maxLeasesPerHolder {
		r.pruneHolderLocked(h, now)
		if len(h.leases) >= maxLeasesPerHolder {
			return 0, 0, false
		}
	}
	if e == nil {
		e = &fileLeases{holders: make(map[*Holder]map[uint64]time.Time)}
		r.files[key] = e
	}
	ls := e.holders[h]
	if ls == nil {
		ls = make(map[uint64]time.Time)
		e.holders[h] = ls
	}
	r.nextID++
	id = r.nextID
	expiry := now.Add(r.ttl)
	ls[id] = expiry
	h.leases[id] = key
	h.granted = append(h.granted, grantedLease{id, expiry})
	return id, h.epoch, true
}

// Opened says that inode number ino is being opened through this server
// (any open but the creation GrantOwned follows): every owned lease on
// it is revoked, the caller's own client's too, and Opened returns once
// each other holder acknowledged (its acknowledgment follows the writes
// it posted) or its lease expired. It returns how many waits ended by
// expiry.
func (r *Registry) Opened(ctx context.Context, ino uint64) int {
	key := OwnedKey(ino)
	r.mu.Lock()
	e := r.files[key]
	if e == nil || len(e.holders) == 0 {
		r.mu.Unlock()
		return 0
	}
	e.changes++
	revs := r.revokeLocked(e, r.now())
	r.gcLocked(key, e)
	r.mu.Unlock()
	return r.finish(ctx, revs)
}

// ownedWriteKey marks a context whose change is a write its holder
// applied to its copy of an owned file.
type ownedWriteKey struct{}

// WithOwnedWrite returns ctx marking its changes as writes HolderOf(ctx)
// applied to its copy of an owned file (Syscall.owned_write): they do
// not revoke its owned lease.
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
