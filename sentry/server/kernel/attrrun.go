package kernel

import (
	"context"

	"golang.org/x/sys/unix"

	"github.com/runsc-decoupled/runsc-decoupled/proto/goferpb"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/fdesc"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/kobj"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/syserr"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/vfs"
)

// A run of a thread's posted attribute calls, as its handlers see it
// (the run itself, its wait for the thread's next call and its replies
// are the server's front's, its attrrun.go): the SetStat a call holds
// in the run (HoldAttrs) and the held changes sent as one (FlushAttrRun,
// FlushHeldAttrs), before anything reads the file's attributes.

// AttrRunCalls are the calls a run is made of.
var AttrRunCalls = map[int32]bool{
	unix.SYS_CHOWN: true, unix.SYS_LCHOWN: true, unix.SYS_FCHOWNAT: true,
	unix.SYS_CHMOD: true, unix.SYS_FCHMODAT: true, unix.SYS_UTIMENSAT: true,
}

// HoldAttrs holds req, the SetStat of call c on dentry d (or open file
// f), in c's thread's run, if c is part of one and req may wait, and
// reports whether it did. Changes held before that req may not join are
// sent first, so the gofer sees the changes in the calls' order. req has
// its handle and Origin.
func (c *Task) HoldAttrs(d *vfs.Dentry, f *fdesc.File, req *goferpb.SetStatRequest) bool {
	if c.AttrRun == nil || c.AttrRun.Unlinks || !AttrRunCalls[c.Sysno] {
		return false
	}
	run := c.AttrRun
	if f != nil || d == nil || !d.IsRegular() || (run.Dentry != nil && run.Dentry != d) {
		c.Kernel.FlushAttrRun(run)
		return false
	}
	if !run.Pending.Add(req) {
		c.Kernel.FlushAttrRun(run)
		if !run.Pending.Add(req) {
			return false
		}
	}
	if run.Dentry == nil {
		// The handle must outlive the handler (whose pin ends with
		// it) until the held change is sent.
		if h, err := c.Kernel.VFS.PinHandle(d); err != nil || h != req.Handle {
			if err == nil {
				c.Kernel.VFS.Unpin(d)
			}
			run.Pending.Take()
			return false
		}
		run.Dentry = d
	}
	run.PartReplies = append(run.PartReplies, c.Reply)
	return true
}

// FlushHeldAttrs sends the changes the run c is part of holds, if any:
// c is about to read attributes.
func (c *Task) FlushHeldAttrs() {
	if c != nil && c.AttrRun != nil {
		c.Kernel.FlushAttrRun(c.AttrRun)
	}
}

// FlushAttrRun sends the changes run holds (the removals, in a run of
// unlinks: FlushUnlinks): one SetStat, or, if that
// fails, each call's own in order (their errors go into their held
// replies, as a posted call's failure: logged).
func (k *Kernel) FlushAttrRun(run *AttrRun) {
	k.FlushUnlinks(run)
	if run.Pending.Empty() {
		return
	}
	merged, parts := run.Pending.Take()
	d, replies := run.Dentry, run.PartReplies
	run.Dentry, run.PartReplies = nil, nil
	defer k.VFS.Unpin(d)
	if len(parts) > 1 && k.setStatHeld(d, merged) == nil {
		for _, p := range parts {
			k.InotifyEvent(d, kobj.InotifyStatEvents(p.Mask))
		}
		return
	}
	for i, p := range parts {
		if err := k.setStatHeld(d, p); err != nil {
			replies[i].Errno, replies[i].Ret = int32(syserr.ErrnoOf(err)), 0
			k.Log.Warn("a posted call failed after the application was told it succeeded", "seq", replies[i].Seq, "err", err)
			continue
		}
		k.InotifyEvent(d, kobj.InotifyStatEvents(p.Mask))
	}
}

// setStatHeld sends req, a held change of d, and records the attributes
// it left.
func (k *Kernel) setStatHeld(d *vfs.Dentry, req *goferpb.SetStatRequest) error {
	ctx, cancel := k.VFS.RPCCtx()
	defer cancel()
	r, err := k.Gofer.SetStat(ctx, req)
	if err := syserr.FromGofer("setstat", r.GetErrno(), err); err != nil {
		return err
	}
	k.VFS.NoteAttrs(d, r.Stat)
	return nil
}

// setStatPoster is the gofer client's PostSetStat
// (goferclient.AttrCache): a change whose result the caller does not
// wait for, which may ride the gofer's next call.
type setStatPoster interface {
	PostSetStat(ctx context.Context, req *goferpb.SetStatRequest, done func(*goferpb.SetStatReply, error)) bool
}

// KickPostedSetStats has the posted changes waiting for a gofer call to
// carry them sent now (a call waits for their posted calls to finish).
// It does not wait.
func (k *Kernel) KickPostedSetStats() {
	if p, ok := k.Gofer.(interface{ KickPosted() }); ok {
		p.KickPosted()
	}
}

// PostAttrRun sends what run holds at the run's end, as FlushAttrRun,
// without waiting for the gofer: the held changes are posted
// (goferclient's PostSetStat: they ride the gofer's next call), and done
// runs once their result came and the run's replies say it (each call's
// errno, as FlushAttrRun's): on a goroutine of the gofer client's, or
// before PostAttrRun returns (a gofer without FeatureBefore). Every
// later gofer call of this server is made after them (goferclient,
// postsetstat.go); the dentry's owner and mode, which the server's own
// permission checks read, are set from the request at once and from the
// gofer's reply when it comes. If the merged change fails, the gofer
// applies each call's own instead, before any later call. It posts only when the owner and mode
// after the changes are known from the request (it sets the mode, with
// no set-id bit the gofer may strip, or no owner), and reports whether
// it did; if not, nothing was done (the caller flushes).
func (k *Kernel) PostAttrRun(run *AttrRun, done func()) bool {
	poster, ok := k.Gofer.(setStatPoster)
	if !ok || !k.PostSetStats || run.Pending.Empty() {
		return false
	}
	m := run.Pending.Merged
	if m.Mask&unix.STATX_MODE == 0 && m.Mask&(unix.STATX_UID|unix.STATX_GID) != 0 || m.Mask&unix.STATX_MODE != 0 && m.Mode&(unix.S_ISUID|unix.S_ISGID) != 0 {
		return false
	}
	merged, parts := run.Pending.Take()
	d, replies := run.Dentry, run.PartReplies
	run.Dentry, run.PartReplies = nil, nil
	if len(parts) == 1 {
		merged = parts[0]
	} else {
		// Applied instead if the merged change fails, before any
		// later call (goferpb.SetStatRequest.parts).
		merged.Parts = parts
	}
	k.VFS.NoteSetAttrs(d, merged)
	ctx, cancel := k.VFS.RPCCtx()
	poster.PostSetStat(ctx, merged, func(r *goferpb.SetStatReply, err error) {
		defer cancel()
		defer done()
		defer k.VFS.Unpin(d)
		err = syserr.FromGofer("setstat", r.GetErrno(), err)
		switch {
		case err == nil:
			k.VFS.NoteAttrs(d, r.Stat)
			for _, p := range parts {
				k.InotifyEvent(d, kobj.InotifyStatEvents(p.Mask))
			}
			return
		case len(parts) == 1:
			replies[0].Errno, replies[0].Ret = int32(syserr.ErrnoOf(err)), 0
			k.Log.Warn("a posted call failed after the application was told it succeeded", "seq", replies[0].Seq, "err", err)
		case len(r.GetParts()) == len(parts):
			// Each call's own was applied instead.
			for i, pr := range r.Parts {
				if err := syserr.FromGofer("setstat", pr.GetErrno(), nil); err != nil {
					replies[i].Errno, replies[i].Ret = int32(syserr.ErrnoOf(err)), 0
					k.Log.Warn("a posted call failed after the application was told it succeeded", "seq", replies[i].Seq, "err", err)
					continue
				}
				k.InotifyEvent(d, kobj.InotifyStatEvents(parts[i].Mask))
			}
		default:
			// As FlushAttrRun: each call's own, for its own errno.
			for i, p := range parts {
				if err := k.setStatHeld(d, p); err != nil {
					replies[i].Errno, replies[i].Ret = int32(syserr.ErrnoOf(err)), 0
					k.Log.Warn("a posted call failed after the application was told it succeeded", "seq", replies[i].Seq, "err", err)
					continue
				}
				k.InotifyEvent(d, kobj.InotifyStatEvents(p.Mask))
			}
		}
		// The owner and mode set from the request may not be the
		// file's: ask.
		k.VFS.RefreshAttrs(d)
	})
	return true
}
