package vfs

import (
	"slices"
	"time"

	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/goferclient"
)

// Kept handles. A program that opens the same file read-only again and
// again (busybox tar opens /etc/passwd and /etc/group for every member
// it extracts) would cost the gofer a walk-open at each open and the
// closing of its fds at each release. Instead, the gofer handle of a
// regular file's description opened read-only (no other gofer open
// flag) stays on its dentry when the description is released (kept),
// and the next read-only open of that dentry takes it without a gofer
// call, while nothing could have changed what it opens. A directory's
// listing ahead brings a handle of it kept the same way (KeepListed),
// which the open of the directory takes:
//
//   - the gofer confirmed that the dentry's name names the handle's
//     file (the walk-open that made the handle began) less than
//     goferclient.AttrTTL ago: a name another party (the host, another
//     server) replaced is seen within AttrTTL, as the attribute cache
//     sees their other changes;
//   - no change of the file went through this server since
//     (goferclient.AttrCache.ChangedSince: an unlink or rename counts
//     as a change of its directories and of the inodes the gofer names,
//     an unlink of another of the file's names among them);
//   - the dentry was not unlinked or replaced (deleteLocked releases
//     its kept handle at once).
//
// A dentry keeps one handle; a client at most MaxKeptHandles, the oldest
// released first, and those past AttrTTL go when the next is kept or
// with the client (ReleaseAll). A kept handle is not an open file
// description: an unlink of its file does not silly-rename it
// (Kernel.InodeOpen), and the gofer drops the inode with the handle.

// MaxKeptHandles bounds the handles a client keeps across closes (each
// is an fd, and maybe a donated one, in the gofer and the server).
const MaxKeptHandles = 64

// Confirmed is when the gofer last confirmed that a dentry's name names
// a handle's file: the attribute cache's clock and change count
// (goferclient.AttrCache.Seq) before the walk that did began.
type Confirmed struct {
	At  time.Time
	Seq uint64
}

// ConfirmStart returns the Confirmed of a walk about to begin.
func (v *VFS) ConfirmStart() Confirmed {
	return Confirmed{At: v.attrs.Clock(), Seq: v.attrs.Seq()}
}

// keptHandle is a dentry's kept handle. Protected by VFS.mu.
type keptHandle struct {
	h    uint64
	fh   []byte
	conf Confirmed
	kind keptKind
}

// keptKind says what kept a handle, which decides which goes first when
// a client keeps too many.
type keptKind int

const (
	// keptClosed: a closed read-only description of a regular file.
	keptClosed keptKind = iota
	// keptAhead: an open the process has yet to make (a file leased
	// ahead, a directory listed ahead). Pushed out after the others: a
	// batch of files leased ahead had each copied file's close push out
	// the next file's handle before its open (cp -r walk-opened every
	// source twice).
	keptAhead
	// keptClosedDir: a closed directory description (keepClosedDir).
	keptClosedDir
)

// MaxKeptClosedDirs bounds the kept handles that closed directory
// descriptions left: fts (GNU rm -r) opens and lists each directory, closes
// it, and opens it again at once, but find and ls -R open each one once,
// and their closed directories' handles would push out those of the
// directories listed ahead and the files leased ahead, still to be
// opened.
const MaxKeptClosedDirs = 4

// NewOpenedGoferDir is NewGoferDir for a description of directory d
// opened through handle h (gofer file handle fh), whose name the gofer
// confirmed at c: at its release the handle is kept on d
// (keepClosedDir) rather than released, if it still may be reused.
func (v *VFS) NewOpenedGoferDir(d *Dentry, h uint64, fh []byte, c Confirmed) *GoferDir {
	g := NewGoferDir(v, h, fh)
	if d != nil && d.Kind == KindGofer && d.IsDir() {
		g.keepOn, g.confirmed = d, c
	}
	return g
}

// keepSpot is where a description keeps its gofer handle at its
// release: the dentry whose open made the handle (nil: it is released)
// and when the gofer last confirmed that the dentry's name names the
// handle's file. Immutable.
type keepSpot struct {
	keepOn    *Dentry
	confirmed Confirmed
}

// keepAt keeps handle h (gofer file handle fh) at s as kept by kind, if
// s names a dentry and the handle may be reused; it says whether it did
// (else the caller releases it).
func (v *VFS) keepAt(s keepSpot, h uint64, fh []byte, kind keptKind) bool {
	return s.keepOn != nil && v.keepOnAs(s.keepOn, h, fh, s.confirmed, kind)
}

// keepClosedDir keeps the handle of g, a directory description being
// released, on its dentry, and says whether it did.
func (v *VFS) keepClosedDir(g *GoferDir) bool {
	return v.keepAt(g.keepSpot, g.Handle, g.FH, keptClosedDir)
}

// stillValid says whether handle h, confirmed at c, may be reused now.
func (v *VFS) stillValid(h uint64, c Confirmed) bool {
	return v.attrs.Clock().Sub(c.At) < goferclient.AttrTTL && !v.attrs.ChangedSince(h, c.Seq)
}

// NewReadOnlyGoferFile is NewGoferFile for a description of regular file
// d opened read-only through handle h (gofer file handle fh), whose name
// the gofer confirmed at c: at its release the handle is kept on d
// (keep) rather than released, if it still may be reused.
func (v *VFS) NewReadOnlyGoferFile(d *Dentry, h uint64, fh []byte, c Confirmed) *GoferFile {
	g := NewGoferFile(v, h, fh, nil)
	if d != nil && d.Kind == KindGofer && d.IsRegular() {
		g.keepOn, g.confirmed = d, c
	}
	return g
}

// TakeKept returns d's kept handle, its file handle and when its name
// was confirmed, if it may be reused now (the caller then owns it); a
// kept handle that may not is released.
func (v *VFS) TakeKept(d *Dentry) (uint64, []byte, Confirmed, bool) {
	v.mu.Lock()
	k := d.kept
	if k == nil {
		v.mu.Unlock()
		return 0, nil, Confirmed{}, false
	}
	v.unkeepLocked(d)
	deleted := d.deleted
	v.mu.Unlock()
	if deleted || !v.stillValid(k.h, k.conf) {
		v.releases.Release([]uint64{k.h})
		return 0, nil, Confirmed{}, false
	}
	v.keptReused.Add(1)
	return k.h, k.fh, k.conf, true
}

// KeptHandle returns d's kept handle, if any (0: none), without taking
// it: for a call through it that tolerates its release meanwhile (the
// gofer then fails the call).
func (v *VFS) KeptHandle(d *Dentry) uint64 {
	v.mu.Lock()
	defer v.mu.Unlock()
	if k := d.kept; k != nil && !d.deleted {
		return k.h
	}
	return 0
}

// KeptReused counts the opens that took a kept handle (tests).
func (v *VFS) KeptReused() uint64 { return v.keptReused.Load() }

// keep keeps g's handle on its dentry, if it may be reused; it says
// whether it did (else the caller releases it).
func (v *VFS) keep(g *GoferFile) bool {
	kind := keptClosed
	if g.openedAhead {
		kind = keptAhead
	}
	return v.keepAt(g.keepSpot, g.Handle, g.FH, kind)
}

// KeepAhead says that g, a read-only description the server opened for
// an open the process is likely to make (a lease ahead), keeps its
// handle at its release as one still to be used (keptAhead). Called
// before g is shared.
func (g *GoferFile) KeepAhead() { g.openedAhead = true }

// KeepListed keeps handle h (gofer file handle fh) of gofer directory d,
// which a listing ahead of d brought (GetdentsRequest.want_handle) and
// whose name the gofer confirmed at c, for the open of d that likely
// follows (find opens each directory it lists); else it releases it.
func (v *VFS) KeepListed(d *Dentry, h uint64, fh []byte, c Confirmed) {
	if d.Kind != KindGofer || !d.IsDir() || !v.keepOnAs(d, h, fh, c, keptAhead) {
		v.releases.Release([]uint64{h})
	}
}

// keepOnAs keeps handle h (file handle fh, its name confirmed at c) on
// d as kept by kind, if it may be reused; it says whether it did.
func (v *VFS) keepOnAs(d *Dentry, h uint64, fh []byte, c Confirmed, kind keptKind) bool {
	if !v.stillValid(h, c) {
		return false
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	if d.deleted || d.kept != nil {
		return false
	}
	d.kept = &keptHandle{h: h, fh: fh, conf: c, kind: kind}
	v.keptList = append(v.keptList, d)
	// Pushed out: those past AttrTTL (checked for the oldest only: the
	// rest go when taken, pushed out, or with the client); the oldest
	// closed directory's past MaxKeptClosedDirs of them; and past the
	// bound, the oldest not kept for an open to come (keptAhead), else
	// the oldest.
	now := v.attrs.Clock()
	var out []uint64
	pushOut := func(d *Dentry) {
		out = append(out, d.kept.h)
		v.unkeepLocked(d)
	}
	for len(v.keptList) > 0 && now.Sub(v.keptList[0].kept.conf.At) >= goferclient.AttrTTL {
		pushOut(v.keptList[0])
	}
	if kind == keptClosedDir {
		var oldest *Dentry
		n := 0
		for _, o := range v.keptList {
			if o.kept.kind == keptClosedDir {
				if n++; oldest == nil {
					oldest = o
				}
			}
		}
		if n > MaxKeptClosedDirs {
			pushOut(oldest)
		}
	}
	for len(v.keptList) > MaxKeptHandles {
		old := v.keptList[0]
		for _, o := range v.keptList {
			if o.kept.kind != keptAhead {
				old = o
				break
			}
		}
		pushOut(old)
	}
	// ReleaseQueue.mu is a leaf under mu.
	v.releases.Release(out)
	return true
}

// unkeepLocked takes d's kept handle (which it has) off d and the list.
// Precondition: v.mu.
func (v *VFS) unkeepLocked(d *Dentry) {
	d.kept = nil
	if i := slices.Index(v.keptList, d); i >= 0 {
		v.keptList = slices.Delete(v.keptList, i, i+1)
	}
}

// deleteLocked marks d unlinked or replaced, and releases its kept
// handle. Precondition: v.mu.
func (v *VFS) deleteLocked(d *Dentry) {
	d.deleted = true
	if k := d.kept; k != nil {
		v.unkeepLocked(d)
		v.releases.Release([]uint64{k.h})
	}
}

// keptHandleIDsLocked returns every kept handle and forgets them (client
// teardown). Precondition: v.mu.
func (v *VFS) keptHandleIDsLocked() []uint64 {
	var ids []uint64
	for _, d := range v.keptList {
		ids = append(ids, d.kept.h)
		d.kept = nil
	}
	v.keptList = nil
	return ids
}

// KeptHandles is how many handles the client keeps now (tests).
func (v *VFS) KeptHandles() int {
	v.mu.Lock()
	defer v.mu.Unlock()
	return len(v.keptList)
}
