package kernel

import (
	"context"

	"golang.org/x/sys/unix"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/runsc-decoupled/runsc-decoupled/proto/goferpb"
	"github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/fdesc"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/goferclient"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/syserr"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/vfs"
)

// A run of a thread's posted unlinks, as its handlers see it (the run is
// the front's, its attrrun.go, as a run of attribute calls). rm -r
// removes a directory's files with a posted unlink each, which arrive
// together; each was a gofer round trip of its own. In a run, an unlink
// whose checks pass holds its removal (HoldUnlink) instead of making it,
// and the held removals go to the gofer as one UnlinkMany
// (FlushUnlinks) at the run's end, before the run's replies: until then
// the calls are not finished, so a call that waits for them (another
// thread's, a channel call) finds the names gone. Only a removal that
// nothing else in the run can observe is held: the run holds nothing
// but removals (and closes between them: GNU rm -r closes a directory's
// fd before it removes the directory), and a removal is held only if
// its name is not a symlink (a later unlink's path cannot go through
// it), the file is not open (no silly rename) and the call is not
// re-sent after a restore. A directory's (rmdir, unlinkat with
// AT_REMOVEDIR) is held too: a later path through it finds what it
// would have found after the rmdir, since the rmdir succeeds only when
// the directory is empty, and fails (ENOTEMPTY, in the gofer's order)
// when a later removal would find a name there. The same name removed
// twice in a run is held twice: the gofer answers the second ENOENT, as
// it would have alone.

// maxHeldUnlinks bounds a run's held removals (one UnlinkMany).
const maxHeldUnlinks = 256

// HeldUnlink is a removal a run holds: name in directory Dir (pinned
// until it is sent, Handle its gofer handle; or Handle is that of
// DirFile, a description of Dir the call started at, referenced until
// then: Task.DirFileOf), the inode Ino (of device Dev, the gofer's) the
// call's lookup found there, whether it is a directory's (RemoveDir), the
// call's seq (its gofer Origin's, part 0: made for the UnlinkMany in
// one array a run, not one message a call), and its reply, which gets
// the errno of a removal that failed.
type HeldUnlink struct {
	Dir       *vfs.Dentry
	DirFile   *fdesc.File
	Handle    uint64
	Name      string
	Dev       uint64
	Ino       uint64
	RemoveDir bool
	Seq       uint64
	Reply     *sentrypb.Reply
}

// UnlinkRunCall says a call with these system call number and arguments
// may hold its removal in a run of unlinks: an unlink(2), rmdir(2) or
// unlinkat(2) (flags 0 or AT_REMOVEDIR).
func UnlinkRunCall(sysno int32, args []uint64) bool {
	switch sysno {
	case unix.SYS_UNLINK, unix.SYS_RMDIR:
		return true
	case unix.SYS_UNLINKAT:
		return len(args) > 2 && (args[2] == 0 || args[2] == unix.AT_REMOVEDIR)
	}
	return false
}

// HoldUnlink holds the removal of name (a file that is no symlink, not
// open, inode ino of the gofer's device dev; a directory when removeDir) from dir in the run of
// unlinks c is part of, if any, and reports whether it did; the caller
// then answers 0, and the removal's result reaches c's reply at the
// run's end.
func (c *Task) HoldUnlink(dir *vfs.Dentry, name string, dev, ino uint64, removeDir bool) bool {
	run := c.AttrRun
	if run == nil || !run.Unlinks || !c.Posted || c.Resent() || !UnlinkRunCall(c.Sysno, c.Args[:]) {
		return false
	}
	if len(run.Held) >= maxHeldUnlinks {
		c.Kernel.FlushUnlinks(run)
	}
	// The handle must outlive the handler (whose pin or reference ends
	// with it) until the removal is sent.
	h, file, err := c.pinHandle(dir)
	if err != nil {
		return false
	}
	if file != nil {
		file.IncRef()
	}
	run.Held = append(run.Held, HeldUnlink{Dir: dir, DirFile: file, Handle: h, Name: name, Dev: dev, Ino: ino, RemoveDir: removeDir, Seq: c.CallSeq, Reply: c.Reply})
	return true
}

// release drops what kept h's handle valid until it was sent.
func (h HeldUnlink) release(v *vfs.VFS) {
	if h.DirFile != nil {
		h.DirFile.DecRef()
		return
	}
	v.Unpin(h.Dir)
}

// FlushHeldUnlinks sends the removals held in the run c is part of, if
// any: c is about to make a removal of its own that may not wait.
func (c *Task) FlushHeldUnlinks() {
	if c != nil && c.AttrRun != nil {
		c.Kernel.FlushUnlinks(c.AttrRun)
	}
}

// FlushUnlinks sends the removals run holds, as one UnlinkMany (each
// alone from a gofer that does not know it), and settles each call's:
// the name forgotten and inotify told, or its errno in its held reply
// (a posted call's failure: logged).
func (k *Kernel) FlushUnlinks(run *AttrRun) {
	held := run.Held
	if len(held) == 0 {
		return
	}
	run.Held = nil
	defer func() {
		for _, h := range held {
			h.release(k.VFS)
		}
	}()
	errs := k.unlinkHeld(held)
	for i, h := range held {
		if err := errs[i]; err != nil {
			h.Reply.Errno, h.Reply.Ret = int32(syserr.ErrnoOf(err)), 0
			k.Log.Warn("a posted call failed after the application was told it succeeded", "seq", h.Reply.Seq, "err", err)
			continue
		}
		k.VFS.Forget(h.Dir, h.Name)
		k.InotifyRemoved(h.Dir, h.Name, h.Ino, h.RemoveDir, true)
	}
}

// unlinkHeld makes the removals held and returns each one's error.
func (k *Kernel) unlinkHeld(held []HeldUnlink) []error {
	errs := make([]error, len(held))
	req := &goferpb.UnlinkManyRequest{
		Dirs:    make([]uint64, len(held)),
		Names:   make([][]byte, len(held)),
		Origins: make([]*goferpb.Origin, len(held)),
		Found:   make([]*goferpb.InodeID, len(held)),
		// Each held removal names the inode its lookup found.
		ErrnosWanted: true,
	}
	inos := make([]uint64, len(held))
	// One allocation each for the run's found inodes, origins and names
	// (rm -r: a run a directory, an unlink a file).
	found := make([]goferpb.InodeID, len(held))
	origins := make([]goferpb.Origin, len(held))
	size := 0
	for _, h := range held {
		size += len(h.Name)
	}
	names := make([]byte, 0, size)
	for i, h := range held {
		names = append(names, h.Name...)
		req.Dirs[i], req.Names[i], inos[i] = h.Handle, names[len(names)-len(h.Name):len(names):len(names)], h.Ino
		found[i].Dev, found[i].Ino = h.Dev, h.Ino
		req.Found[i] = &found[i]
		origins[i].ClientId, origins[i].Seq = k.OriginID, h.Seq
		req.Origins[i] = &origins[i]
		if h.RemoveDir {
			if req.Flags == nil {
				req.Flags = make([]uint32, len(held))
			}
			req.Flags[i] = unix.AT_REMOVEDIR
		}
	}
	ctx, cancel := k.VFS.RPCCtx()
	defer cancel()
	var r *goferpb.UnlinkManyReply
	var err error
	if len(held) > 1 {
		r, err = k.Gofer.UnlinkMany(goferclient.WithChanging(ctx, inos...), req)
	}
	if len(held) == 1 || status.Code(err) == codes.Unimplemented {
		// One removal, or a gofer that does not know UnlinkMany: each
		// alone.
		for i, h := range held {
			errs[i] = k.unlinkAlone(ctx, h)
		}
		return errs
	}
	for i, h := range held {
		switch {
		case err != nil:
			errs[i] = syserr.FromGofer("unlink "+h.Name, 0, err)
		case i < r.Ran():
			if e := r.UnlinkErrno(i); e != 0 { // the op's string costs an allocation
				errs[i] = syserr.FromGofer("unlink "+h.Name, e, nil)
			}
		case r.GetErrno() != 0:
			errs[i] = syserr.FromGofer("unlink "+h.Name, r.GetErrno(), nil)
		default:
			// A reply short of answers without an errno: the gofer's
			// bug, not a success.
			errs[i] = syserr.FromGofer("unlink "+h.Name, int32(unix.EIO), nil)
		}
	}
	return errs
}

// unlinkAlone makes held removal h as an Unlink of its own.
func (k *Kernel) unlinkAlone(ctx context.Context, h HeldUnlink) error {
	var flags uint32
	if h.RemoveDir {
		flags = unix.AT_REMOVEDIR
	}
	one, err := k.Gofer.Unlink(goferclient.WithChanging(ctx, h.Ino), &goferpb.UnlinkRequest{Dir: h.Handle, Name: []byte(h.Name), Flags: flags, Origin: &goferpb.Origin{ClientId: k.OriginID, Seq: h.Seq},
		Found: &goferpb.InodeID{Dev: h.Dev, Ino: h.Ino}})
	return syserr.FromGofer("unlink "+h.Name, one.GetErrno(), err)
}
