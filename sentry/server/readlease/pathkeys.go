package readlease

import (
	"context"
	"sync/atomic"
	"time"
)

// Path leases (docs/ARCHITECTURE.md, "The client's path cache") are
// leases on what a path call's answer depends on, per inode: a client's
// kept answer holds one lease per key its walk touched, and a change
// revokes only the keys it changes, so a creation in one directory drops
// the answers that ended at that directory or failed to find a name in
// it, and no other.

// PathKind is what of an inode a path answer depends on.
type PathKind uint8

const (
	// PathSearch: the walk crossed or found the inode (a directory it
	// searched, a symlink it followed, the file it found): the answer
	// depends on the name still naming it and on its mode and owner.
	// Every change of the inode (Changed) revokes it; a name made or
	// removed in it (DirChanged) does not.
	PathSearch PathKind = iota
	// PathAttrs: the answer ends at the inode and shows its attributes.
	// Every change of the inode revokes it, and so does a name made or
	// removed in it (its mtime, ctime and link count move).
	PathAttrs
	// PathNames: a lookup in the directory failed (ENOENT). A name made
	// in it revokes it.
	PathNames
	// PathComplete: the holder knows the directory's every name and its
	// mode and owner (it made the directory: empty at birth). Every
	// change of the inode or its names revokes it but the holder's own
	// (HolderOf of the change's context), whose effect the holder applies
	// to its copy itself; a change whose directory is not known
	// (ChangedPaths, ChangedAll) revokes the holder's too.
	PathComplete
	numPathKinds
)

// pathDevBase is the Dev of PathKey(0, ino); the kinds count down from
// it (no gofer device has such numbers).
const pathDevBase = ^uint64(0) - 1

// PathKey is the registry key of kind of inode number ino. Path keys
// name the inode number alone, without its device: two files of
// different devices with the same number share their keys, which only
// revokes more.
func PathKey(kind PathKind, ino uint64) Key {
	return Key{Dev: pathDevBase - uint64(kind), Ino: ino}
}

// AttrsKey is the key of the attributes of inode ino, a directory or
// not: the changes that revoke a file's PathAttrs are those that revoke
// its PathSearch unless names are made in it, so a file that is no
// directory has one key for both (and a grant one lease: a listing's
// file entries cost the registry one key each, not two).
func AttrsKey(ino uint64, dir bool) Key {
	if !dir {
		return PathKey(PathSearch, ino)
	}
	return PathKey(PathAttrs, ino)
}

// isPathKey says whether k is a PathKey.
func isPathKey(k Key) bool {
	return k.Dev <= pathDevBase && k.Dev > pathDevBase-uint64(numPathKinds)
}

// PathKindOf returns the kind of path key k (ok false: k is no PathKey);
// its inode number is k.Ino. A client that posts a change mirrors the
// revocation it will bring with it (PathLease.kinds).
func PathKindOf(k Key) (kind PathKind, ok bool) {
	if !isPathKey(k) {
		return 0, false
	}
	return PathKind(pathDevBase - k.Dev), true
}

// maxPathLeasesPerHolder bounds one client's live path leases (budget.go;
// a listing brings a couple per entry: find lists up to ~8,000 entries a
// second here, and a lease lives a second).
const maxPathLeasesPerHolder = 32768

// PathTicket is a path grant in progress (BeginPath): the count of path
// changes it began at, and how many changes of its holder since it may
// revoke its keys (its call's own: After).
type PathTicket struct{ gen, own uint64 }

// BeginPath starts a path grant, before the walk whose answer it covers:
// a change that revokes one of the keys GrantPath is given, made before
// GrantPath, makes the grant fail (the keys are learnt during the walk,
// too late to begin on each; pathchanges.go).
func (r *Registry) BeginPath() PathTicket {
	r.mu.Lock()
	defer r.mu.Unlock()
	return PathTicket{gen: r.pathGen}
}

// After returns t allowing n more changes of its keys by its holder: a
// call that made n path changes itself (a creation: one) and reads what
// it grants after them may grant if no other change revoked its keys.
func (t PathTicket) After(n uint64) PathTicket { return PathTicket{gen: t.gen, own: t.own + n} }

// GrantPath ends t by giving h a lease on each of keys (path keys). A
// key on which h holds a live lease with at least half its life left
// gets that lease again, so that a client asking many times a second
// holds a couple of leases per key, not one per call. It returns the
// leases' ids (one per key, in order), h's revocation epoch and how long
// the shortest lease has left; ok false if a change since BeginPath
// revoked one of keys (but t's own, After), keys is empty, or h holds too many leases or may hold none.
func (r *Registry) GrantPath(h *Holder, t PathTicket, keys []Key) (ids []uint64, epoch uint64, left time.Duration, ok bool) {
	if len(keys) == 0 {
		return nil, 0, 0, false
	}
	kick := false
	defer func() {
		if kick && h.kick != nil {
			h.kick(true)
		}
	}()
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.pathUnchangedLocked(h, t, keys) {
		h.pathGrants.moved.Add(1)
		return nil, 0, 0, false
	}
	if r.changing > 0 {
		// A change of one of keys' inodes may be under way (BeginChange):
		// the walk may have seen it half made.
		for _, k := range keys {
			if e := r.files[k]; e != nil && e.changing > 0 {
				h.pathGrants.changing.Add(1)
				return nil, 0, 0, false
			}
		}
	}
	now := r.now()
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.disabled || now.Before(h.pausedUntil) {
		h.pathGrants.refused.Add(1)
		return nil, 0, 0, false
	}
	// At each grant (it costs the leases it forgets): the registry
	// then holds the live leases alone.
	r.pruneHolderLocked(h, now)
	if len(keys) > h.roomLocked(pathBudget) {
		kick = r.releaseLocked(h, pathBudget, max(len(keys), maxPathLeasesPerHolder/4))
		h.pathGrants.refused.Add(1)
		return nil, 0, 0, false
	}
	h.pathGrants.granted.Add(1)
	left = r.ttl
	ids = make([]uint64, len(keys))
	for i, k := range keys {
		e := r.entryLocked(k)
		// By the grant's own expiry, not the renewed one: the client
		// counts the lease's life from the expiry it is told (left).
		var last time.Time
		for _, l := range e.leases {
			if l.h == h && l.expiry.After(last) {
				ids[i], last = l.id, l.expiry
			}
		}
		if ids[i] != 0 && last.Sub(now) >= r.ttl/2 {
			left = min(left, last.Sub(now))
			continue
		}
		r.nextID++
		ids[i] = r.nextID
		expiry := now.Add(r.ttl)
		e.addLease(h, ids[i], expiry)
		h.addLocked(ids[i], k, expiry)
	}
	return ids, h.epoch, left, true
}

// pathGrantCounts count the outcomes of a holder's path grants
// (GrantPath): granted; failed because a change moved what the ticket
// began at (moved) or was under way on a key (changing); refused to the
// holder (disabled, paused, budget full). Atomic: any goroutine adds,
// the server's log reads.
type pathGrantCounts struct {
	granted, moved, changing, refused atomic.Uint64
}

// PathGrantStats are a holder's path grant outcomes so far
// (pathGrantCounts).
type PathGrantStats struct {
	Granted, Moved, Changing, Refused uint64
}

// PathGrants returns h's path grant outcomes so far: the server logs
// them at its client's end, and tests count the grants a change failed.
func (h *Holder) PathGrants() PathGrantStats {
	c := &h.pathGrants
	return PathGrantStats{Granted: c.granted.Load(), Moved: c.moved.Load(), Changing: c.changing.Load(), Refused: c.refused.Load()}
}

// CreationKeys are the keys of directory inode ino that a creation
// posted on the strength of a lease on them relies on: its missing names
// and its complete names.
func CreationKeys(ino uint64) []Key {
	return []Key{PathKey(PathNames, ino), PathKey(PathComplete, ino)}
}

// OthersHold says whether a holder other than h holds a live lease on
// one of keys. A grant that lets its holder post creations in a
// directory (PathLease.creatable, complete names) asks it of the
// directory's CreationKeys once its own leases are in the table: two
// clients posting creations in one directory would deadlock, each
// creation waiting (BeginChange) for the other client's acknowledgment,
// which follows that client's own posted creation. Of two grants, the
// one that asks last sees the other's lease; a lease revoked meanwhile
// belongs to a change under way, which no grant passes until its holder
// acknowledged, after the creations it posted.
func (r *Registry) OthersHold(h *Holder, keys []Key) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.now()
	for _, k := range keys {
		if e := r.files[k]; e != nil && r.liveLocked(e, now, h) {
			return true
		}
	}
	return false
}

// DirChanged says that a name was made in or removed from directory
// inode ino through this server: the leases of the answers that end at
// it (PathAttrs) or found a name missing in it (PathNames) are revoked,
// as Changed revokes, and its complete names (PathComplete) but the
// changing client's own.
func (r *Registry) DirChanged(ctx context.Context, ino uint64) int {
	return r.changeKeys(ctx, []Key{PathKey(PathAttrs, ino), PathKey(PathNames, ino), PathKey(PathComplete, ino)})
}

// ChangedPaths revokes every path lease (a change of names whose
// directory is not known, a mount), as Changed revokes.
func (r *Registry) ChangedPaths(ctx context.Context) int {
	self := HolderOf(ctx)
	r.mu.Lock()
	now := r.now()
	r.notePathChangeLocked(self, nil, true)
	var revs []revocation
	for k, e := range r.files {
		if !isPathKey(k) {
			continue
		}
		e.changes++
		revs = r.revokeLocked(revs, e, now, self)
		r.gcLocked(k, e)
	}
	r.mu.Unlock()
	return r.finish(ctx, revs)
}
