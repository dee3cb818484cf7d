package vfs

import "golang.org/x/sys/unix"

// MaxDentryHandles bounds the gofer handles a client's dentry cache keeps.
// Each one is an open fd in the gofer; without a bound a client that walks
// a large tree (find /usr: 150,000 files) exhausts the gofer's fds. A
// dentry whose handle was evicted keeps its name, inode and place in the
// tree and walks to a new handle from its parent when it needs one again.
const MaxDentryHandles = 1024

// EvictBatch is how many handles one eviction releases at least, so that a
// Release RPC is paid once per evictBatch lookups beyond the bound.
const EvictBatch = 64

// The dentries holding a gofer handle (other than the root's, which is
// never evicted) are on vfs.lru, most recently used first.

// lruPushLocked puts d, which just got a handle, at the front of the LRU.
// Precondition: v.mu.
func (v *VFS) lruPushLocked(d *Dentry) {
	if d == v.Root || d.lruNext != nil {
		return
	}
	if v.lru.lruNext == nil {
		v.lru.lruNext, v.lru.lruPrev = &v.lru, &v.lru
	}
	d.lruPrev, d.lruNext = &v.lru, v.lru.lruNext
	v.lru.lruNext.lruPrev = d
	v.lru.lruNext = d
	v.cachedHandles++
}

// lruRemoveLocked takes d off the LRU. Precondition: v.mu.
func (v *VFS) lruRemoveLocked(d *Dentry) {
	if d.lruNext == nil {
		return
	}
	d.lruPrev.lruNext = d.lruNext
	d.lruNext.lruPrev = d.lruPrev
	d.lruPrev, d.lruNext = nil, nil
	v.cachedHandles--
}

// lruTouchLocked marks d most recently used. Precondition: v.mu.
func (v *VFS) lruTouchLocked(d *Dentry) {
	if d.lruNext == nil || v.lru.lruNext == d {
		return
	}
	v.lruRemoveLocked(d)
	v.lruPushLocked(d)
}

// evictLocked takes the handles of the least recently used unpinned
// dentries once more than maxDentryHandles+evictBatch are cached, down to
// maxDentryHandles, and returns them for the caller to release after
// unlocking. Precondition: v.mu.
func (v *VFS) evictLocked() []uint64 {
	if v.cachedHandles <= MaxDentryHandles+EvictBatch || v.lru.lruNext == nil {
		return nil
	}
	var ids []uint64
	for d := v.lru.lruPrev; d != &v.lru && v.cachedHandles > MaxDentryHandles; {
		prev := d.lruPrev
		if d.pins == 0 {
			v.lruRemoveLocked(d)
			ids = append(ids, d.handle)
			d.handle = 0
		}
		d = prev
	}
	return ids
}

// PinHandle returns d's gofer handle, walking to it from d's parent if the
// dentry has none (made without one, or evicted), and pins it: eviction
// leaves it alone until Unpin. Each successful PinHandle needs one Unpin.
func (v *VFS) PinHandle(d *Dentry) (uint64, error) {
	if h, ok := v.PinCachedHandle(d); ok {
		return h, nil
	}
	v.mu.Lock()
	parent, name, deleted := d.parent, d.name, d.deleted
	v.mu.Unlock()
	if deleted || d.Kind != KindGofer || d == v.Root {
		return 0, unix.ENOENT
	}
	ph, err := v.PinHandle(parent)
	if err != nil {
		return 0, err
	}
	wf, err := v.walkOne(ph, name)
	v.Unpin(parent)
	if err != nil {
		return 0, err
	}
	if wf.Stat.Ino != d.ino || wf.Stat.Mode&unix.S_IFMT != d.Mode&unix.S_IFMT {
		// The name now refers to another file: d's file is gone from it.
		v.releases.Release([]uint64{wf.Handle.Id})
		return 0, unix.ENOENT
	}
	v.mu.Lock()
	// Pinned before the eviction, which must not take the handle just
	// walked to (it would, were every other cached handle pinned).
	d.pins++
	var evicted []uint64
	if d.handle != 0 {
		evicted = []uint64{wf.Handle.Id} // another lookup got there first
	} else {
		d.handle = wf.Handle.Id
		if d.fh == nil {
			d.fh = wf.Handle.FileHandle
		}
		v.lruPushLocked(d)
		evicted = v.evictLocked()
	}
	h := d.handle
	v.mu.Unlock()
	if len(evicted) > 0 {
		v.releases.Release(evicted)
	}
	return h, nil
}

// PinCachedHandle is PinHandle when d has a handle already; it makes no
// gofer call and reports false when d has none.
func (v *VFS) PinCachedHandle(d *Dentry) (uint64, bool) {
	v.mu.Lock()
	defer v.mu.Unlock()
	h := d.handle
	if h == 0 {
		return 0, false
	}
	d.pins++
	v.lruTouchLocked(d)
	return h, true
}

// Unpin undoes one PinHandle.
func (v *VFS) Unpin(d *Dentry) {
	v.mu.Lock()
	d.pins--
	v.mu.Unlock()
}

// cacheChildHandleLocked records that dentry d was made with handle h (0
// for none) and returns the handles to release for the bound.
// Precondition: v.mu.
func (v *VFS) cacheChildHandleLocked(d *Dentry) []uint64 {
	if d.handle == 0 {
		return nil
	}
	v.lruPushLocked(d)
	return v.evictLocked()
}

// cachedHandleIDsLocked returns every handle the dentry cache holds, the
// root's included, and forgets them (client teardown). Precondition: v.mu.
func (v *VFS) cachedHandleIDsLocked() []uint64 {
	var ids []uint64
	if v.Root.handle != 0 {
		ids = append(ids, v.Root.handle)
		v.Root.handle = 0
	}
	for v.lru.lruNext != nil && v.lru.lruNext != &v.lru {
		d := v.lru.lruNext
		v.lruRemoveLocked(d)
		ids = append(ids, d.handle)
		d.handle = 0
	}
	return ids
}
