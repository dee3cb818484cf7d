package readlease

import (
	"context"
)

// A change announced before it is made (BeginChange).
//
// Changed revokes leases once a change was made. That is enough for what
// a client answers itself (a read, a stat: the change's call has not
// returned, so the client's answer is not after it), but not for a call
// the client posts on the strength of a lease: a read-only open whose
// path lease said the name opens that file. The client told the
// application the fd at once; if the open reaches the server after the
// change (an unlink, a rename over the name or of a directory on the
// path, a chmod), it fails there or opens another file. So a change of a
// name or of who may open a file is announced first: every lease on the
// inodes it will change is revoked, and the change is made once each
// holder acknowledged (or its leases expired), the holder's
// acknowledgment counting only once the calls it posted before it ran
// (the server's glue, sentry/server/readlease.go). Until the change ends,
// no lease on those inodes is granted: a walk made meanwhile may have
// seen the old state.

// BeginChange announces that a change of inodes (read-lease keys,
// dev/ino, or path keys: a directory's names, BeginNamesChange) is about
// to be made through this server: every lease on them (read leases and
// the path leases of their inode numbers) is revoked,
// and BeginChange returns once each holder other than HolderOf(ctx)
// acknowledged or its leases expired (how many expired: expired); the
// leases of HolderOf(ctx) stay for its Changed to revoke. No lease on
// them is granted until end is called, after the change and its Changed.
func (r *Registry) BeginChange(ctx context.Context, inodes []Key) (end func(), expired int) {
	if len(inodes) == 0 {
		return func() {}, 0
	}
	keys := make([]Key, 0, (2+int(numPathKinds))*len(inodes))
	for _, k := range inodes {
		keys = append(keys, k)
		if !isPathKey(k) {
			keys = appendInodePathKeys(keys, k.Ino)
		}
	}
	// No pathGen move: a path grant begun before that ends during the
	// change finds a key of it changing if its walk touched the inodes,
	// and one that ends after finds the move of the change's own
	// Changed; a grant of the change's own call that counts its changes
	// (PathTicket.After) stays valid.
	// The caller's own leases stay until its Changed, after the change,
	// revokes them (before its reply): a change of another client that
	// comes meanwhile must wait for this client's acknowledgment, which
	// comes after this change if this call is a posted one that relied on
	// them (a creation posted on a name's absence).
	self := HolderOf(ctx)
	r.mu.Lock()
	now := r.now()
	r.changing++
	var revs []revocation
	for _, key := range keys {
		e := r.entryLocked(key)
		e.changing++
		e.changes++
		revs = r.revokeButLocked(revs, e, now, self, self)
	}
	r.mu.Unlock()
	expired = r.finish(ctx, revs)
	return func() {
		r.mu.Lock()
		defer r.mu.Unlock()
		r.changing--
		for _, key := range keys {
			if e := r.files[key]; e != nil {
				e.changing--
				r.gcLocked(key, e)
			}
		}
	}, expired
}

// BeginNamesChange is BeginChange for a name about to be made in
// directory inode ino (a creation, a link, a rename into it): the leases
// DirChanged revokes (the answers that end at the directory or found a
// name missing in it, and its complete names but the caller's own) go
// first, so that a creation another client posted
// on a name's absence is made before this one.
func (r *Registry) BeginNamesChange(ctx context.Context, ino uint64) (end func(), expired int) {
	return r.BeginChange(ctx, []Key{PathKey(PathAttrs, ino), PathKey(PathNames, ino), PathKey(PathComplete, ino)})
}
