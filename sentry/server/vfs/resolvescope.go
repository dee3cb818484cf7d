package vfs

import (
	"golang.org/x/sys/unix"
)

// Scoped walks: openat2's RESOLVE_* flags (Linux's LOOKUP_NO_XDEV,
// LOOKUP_NO_MAGICLINKS, LOOKUP_NO_SYMLINKS, LOOKUP_BENEATH,
// LOOKUP_IN_ROOT), checked by the walk of a Caller that is a
// ScopedCaller with a scope:
//
//   - NoXDev: a step into another mount (a lookup, "..", a symbolic
//     link's jump to the root or a magic link's target) is EXDEV. The
//     gofer's grafted mounts are told apart by MountOf; /proc, /dev,
//     /dev/pts and /dev/mqueue are each a mount of their own.
//   - NoMagicLinks: following a magic link (/proc/<pid>/fd/<n>, exe, cwd)
//     is ELOOP; NoSymlinks: following any symbolic link is ELOOP.
//   - Beneath: an absolute path or link, or ".." at the walk's start, is
//     EXDEV; a magic link too.
//   - InRoot: the walk's start is its root: an absolute path or link
//     starts there and ".." there stays there; a magic link is EXDEV.

// RootedCaller is a Caller whose process may have a root of its own
// (chroot(2)): its absolute paths and symbolic links start there, and
// ".." there stays there, as Linux's walks stop at the task's fs->root.
type RootedCaller interface {
	// FSRoot returns the caller's root, nil for the VFS's.
	FSRoot() *Dentry
}

// RootOf returns where c's absolute paths start: its own root, or the
// VFS's (the root /proc's links name paths from).
func (v *VFS) RootOf(c Caller) *Dentry {
	if rc, ok := c.(RootedCaller); ok {
		if r := rc.FSRoot(); r != nil {
			return r
		}
	}
	return v.Root
}

// ResolveScope is a walk's restrictions.
type ResolveScope struct {
	Flags uint64
	// Root is the walk's start (the dirfd's directory, or the cwd):
	// Beneath's bound and InRoot's root.
	Root *Dentry
	// NS is the caller's mount namespace (set by scopeOf: NoXDev's
	// mounts are its namespace's).
	NS uint64
}

// The RESOLVE_* flags (linux/openat2.h).
const (
	ResolveNoXDev       = 0x01
	ResolveNoMagicLinks = 0x02
	ResolveNoSymlinks   = 0x04
	ResolveBeneath      = 0x08
	ResolveInRoot       = 0x10
	ResolveCached       = 0x20
	ResolveAll          = ResolveNoXDev | ResolveNoMagicLinks | ResolveNoSymlinks | ResolveBeneath | ResolveInRoot | ResolveCached
)

// ScopedCaller is a Caller whose walks may be scoped.
type ScopedCaller interface {
	// ResolveScope returns the scope of the call's walks (nil: none).
	ResolveScope() *ResolveScope
}

// scopeOf returns c's walk scope, nil when it has none.
func scopeOf(c Caller) *ResolveScope {
	if sc, ok := c.(ScopedCaller); ok {
		if s := sc.ResolveScope(); s != nil && s.Flags&^ResolveCached != 0 {
			s.NS = NSOf(c)
			return s
		}
	}
	return nil
}

func (s *ResolveScope) has(f uint64) bool { return s != nil && s.Flags&f != 0 }

// scoped says the walk may not leave its start (Beneath, InRoot).
func (s *ResolveScope) scoped() bool { return s.has(ResolveBeneath | ResolveInRoot) }

// mountKey names the mount d is on: the gofer's by MountOf, the
// synthesized trees by a negative number of their own.
func (v *VFS) mountKey(ns uint64, d *Dentry) int {
	switch d.Kind {
	case KindGofer:
		return v.MountOf(ns, d)
	case KindProcDir, KindProcSelf, KindProcPid, KindProcCwd, KindProcRoot, KindProcExe, KindProcFdDir, KindProcFd,
		KindProcFile, KindProcSubdir, KindProcTaskDir, KindProcFdInfoDir, KindProcFdInfo:
		return -1
	case KindDevPtsDir, KindDevPts:
		return -3
	case KindMqueueDir, KindMqueue:
		return -4
	}
	return -2 // /dev
}

// scopeStep checks a walk's step from one dentry to another (NoXDev).
func (v *VFS) scopeStep(s *ResolveScope, from, to *Dentry) error {
	if s.has(ResolveNoXDev) && v.mountKey(s.NS, from) != v.mountKey(s.NS, to) {
		return unix.EXDEV
	}
	return nil
}

// ScopeStep is scopeStep for c's scope: a walk's last step made outside
// this package (an open's lookup of its last component).
func (v *VFS) ScopeStep(c Caller, from, to *Dentry) error {
	return v.scopeStep(scopeOf(c), from, to)
}

// scopeAbsolute returns where an absolute path (or link target) starts,
// cur being where the walk is: root (the caller's, RootOf), InRoot's
// root, or EXDEV.
func (v *VFS) scopeAbsolute(s *ResolveScope, root, cur *Dentry, jump bool) (*Dentry, error) {
	switch {
	case s.has(ResolveBeneath):
		return nil, unix.EXDEV
	case s.has(ResolveInRoot):
		return s.Root, nil
	}
	if jump {
		if err := v.scopeStep(s, cur, root); err != nil {
			return nil, err
		}
	}
	return root, nil
}

// scopeDotDot returns where ".." from cur goes under s, root being the
// caller's root (RootOf), where it stays.
func (v *VFS) scopeDotDot(s *ResolveScope, root, cur *Dentry) (*Dentry, error) {
	if s.scoped() && cur == s.Root {
		if s.has(ResolveBeneath) {
			return nil, unix.EXDEV
		}
		return cur, nil
	}
	if cur == root {
		return cur, nil
	}
	parent := v.ParentOf(cur)
	if err := v.scopeStep(s, cur, parent); err != nil {
		return nil, err
	}
	return parent, nil
}

// scopeLink checks that a walk under s may follow a symbolic link.
func scopeLink(s *ResolveScope) error {
	if s.has(ResolveNoSymlinks) {
		return unix.ELOOP
	}
	return nil
}

// scopeMagic checks that a walk under s at dir may follow a magic link to
// target.
func (v *VFS) scopeMagic(s *ResolveScope, dir, target *Dentry) error {
	switch {
	case s.has(ResolveNoMagicLinks | ResolveNoSymlinks):
		return unix.ELOOP
	case s.scoped():
		return unix.EXDEV
	}
	return v.scopeStep(s, dir, target)
}
