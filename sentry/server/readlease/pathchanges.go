package readlease

// The path changes a path grant checks its keys against.
//
// A path grant learns its keys during the walk (BeginPath, GrantPath),
// too late to count changes on each as a read grant does. Every change of
// what a path lease may cover moves Registry.pathGen and is kept here
// with the path keys it revoked: a grant fails if a change since its
// ticket revoked one of its own keys, which is exactly the change that
// would have revoked the lease had it come after the grant. Changes of
// other inodes leave it: with a single counter, every creation, chmod
// or unlink of one client failed the walks of every other client in
// flight meanwhile, and four tars on one server waited ~600 times each
// instead of ~20 (TestPathGrantOfOtherInodesChange).

// pathChangeLog is how many changes the log keeps: a grant begun more
// changes ago fails, as every grant did on any change before. Four
// clients extracting tarballs at once make ~20 changes a millisecond
// here, a walk takes well under one.
const pathChangeLog = 512

// pathChange is one move of Registry.pathGen.
type pathChange struct {
	// holder is HolderOf the change's context (nil: none).
	holder *Holder
	// all: the change revoked every path key (ChangedPaths, ChangedAll).
	all bool
	// n is how many of keys are set.
	n uint8
	// keys are the path keys the change revoked (a change names at most
	// one inode's: numPathKinds).
	keys [numPathKinds]Key
}

// touches says whether c revoked one of keys.
func (c *pathChange) touches(keys []Key) bool {
	if c.all {
		return true
	}
	for _, ck := range c.keys[:c.n] {
		for _, k := range keys {
			if k == ck {
				return true
			}
		}
	}
	return false
}

// notePathChangeLocked moves pathGen for a change by holder of keys (any
// keys: the path keys among them are kept; all: every path key).
// Precondition: r.mu.
func (r *Registry) notePathChangeLocked(holder *Holder, keys []Key, all bool) {
	r.pathGen++
	c := &r.pathChanges[r.pathGen%pathChangeLog]
	*c = pathChange{holder: holder, all: all}
	for _, k := range keys {
		if !isPathKey(k) {
			continue
		}
		if int(c.n) == len(c.keys) {
			// More inodes than one: keep the change as revoking all.
			c.all = true
			return
		}
		c.keys[c.n] = k
		c.n++
	}
}

// pathUnchangedLocked says whether no change since t revoked one of keys
// but, for h, t's own (PathTicket.After): a change of h's that revoked
// one of keys counts as one of the call's own, at most t.own of them.
// Precondition: r.mu.
func (r *Registry) pathUnchangedLocked(h *Holder, t PathTicket, keys []Key) bool {
	moved := r.pathGen - t.gen
	if moved == 0 {
		return true
	}
	if moved >= pathChangeLog {
		return false
	}
	own := t.own
	for g := t.gen + 1; g <= r.pathGen; g++ {
		c := &r.pathChanges[g%pathChangeLog]
		if !c.touches(keys) {
			continue
		}
		// A change of every path is no creation's own.
		if c.all || c.holder != h || own == 0 {
			return false
		}
		own--
	}
	return true
}
