package kernel

import (
	"fmt"

	"gvisor.dev/gvisor/pkg/abi/linux"

	"github.com/runsc-decoupled/runsc-decoupled/proto/goferpb"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/auth"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/fdesc"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/syserr"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/vfs"
)

// A write's kernel side, whatever call makes it (write, a PageWrite,
// splice, sendfile, truncate, fallocate): the durability tracking and
// WriteState record of a gofer write (WriteAt), the set-id bits it
// clears (KillPriv) and the client's mapped pages it changes
// (NoteMappedChange, NoteMappedResize).

// WriteAt writes b at off of f. A write to a gofer file is tracked for
// durability and reported (WriteState) with the call's reply; for an
// append it returns the offset the data actually went to, taken from the
// gofer's reply (a re-sent append answered from the gofer's reply cache
// landed where the first one did).
func (c *Task) WriteAt(f *fdesc.File, b []byte, off int64, appendMode bool) (int, int64, error) {
	if m := vfs.MemfdOf(f); m != nil && c.PageWrite == 0 {
		// A PageWrite writes back stores made through a mapping that
		// existed before the seal (F_SEAL_WRITE needs none, and
		// F_SEAL_FUTURE_WRITE leaves them).
		if err := m.CheckWrite(c, f, off, len(b)); err != nil {
			return 0, off, err
		}
	}
	if _, ok := f.Impl.(*vfs.GoferFile); !ok || c.CallSeq == 0 {
		n, err := f.Impl.Write(c, f, b, off)
		return n, off, err
	}
	if !c.SyncedWrites {
		c.Kernel.Dur.Begin(f, c.CallSeq)
	}
	c.GoferSize = -1
	n, err := f.Impl.Write(c, f, b, off)
	if appendMode && n > 0 && c.GoferSize >= int64(n) {
		off = c.GoferSize - int64(n)
	}
	if n > 0 && !appendMode && c.Resent() {
		// Before End: the bytes written again are the call's, synced
		// and announced with it.
		c.Kernel.redoOverRewrites(f, b[:n], off, c.CallSeq)
	}
	if !c.SyncedWrites {
		if c.Kernel.Dur.End(f, c.CallSeq, off, n) {
			f.DecRef()
		}
	}
	if n > 0 && vfs.DentryOf(f) != nil {
		c.Kernel.InotifyEvent(vfs.DentryOf(f), linux.IN_MODIFY)
	}
	if n > 0 {
		if !c.SyncedWrites {
			e := c.Effects()
			w := GoferWrite{File: f, Off: off, N: uint64(n), Mapped: c.PageWrite}
			if c.DataNotInCall {
				w.Data = append([]byte(nil), b[:n]...)
			}
			e.Writes = append(e.Writes, w)
		}
		c.NoteMappedChange(f, uint64(off), uint64(n))
		c.Kernel.coverFailed(f, off, n)
	}
	return n, off, err
}

// rewroteSpan is a range a Rewrite wrote (Kernel.rewrote): n bytes at
// off of the file of inode ino on gofer device dev, by the write of call
// seq.
type rewroteSpan struct {
	dev, ino, seq uint64
	off, n        int64
}

// noteRewrote records that the Rewrite of call seq wrote n bytes at off
// of f's file (its bytes were not found there: redoOverRewrites).
func (k *Kernel) noteRewrote(f *fdesc.File, seq uint64, off int64, n int) {
	d := vfs.DentryOf(f)
	if d == nil || d.Kind != vfs.KindGofer {
		return
	}
	k.Mu.Lock()
	k.rewrote = append(k.rewrote, rewroteSpan{dev: d.GoferDev(), ino: d.Ino(), seq: seq, off: off, n: int64(n)})
	k.Mu.Unlock()
}

// redoOverRewrites writes b at off of f again, without an Origin, if a
// Rewrite of a lower seq than the re-sent call seq's wrote over part of
// that range (noteRewrote). The call's write may have been made by the
// dead server: the Rewrite then found the file without its own bytes
// (this write had changed them) and, when the gofer's reply cache could
// not answer it (its entry evicted, a restarted gofer, a donated fd),
// wrote them back over this write's, and this write, answered from the
// cache, was not made again: the older bytes stayed. Made again it lands
// last, which is always an order the application could have seen: its
// reply never came, so no answered write was made after it. Written
// once more when it was made anyway (the same bytes). An append is
// left: the offset the dead server found is the cache's, not off.
func (k *Kernel) redoOverRewrites(f *fdesc.File, b []byte, off int64, seq uint64) {
	d := vfs.DentryOf(f)
	if d == nil || d.Kind != vfs.KindGofer {
		return
	}
	if !k.rewroteUnder(d, off, off+int64(len(b)), seq) {
		return
	}
	// A call of no seq: the gofer gets no Origin, and makes it.
	c := &Task{Kernel: k, Intr: make(chan struct{}), GoferSize: -1}
	defer c.UnpinAll()
	n, err := f.Impl.Write(c, f, b, off)
	if err == nil && n < len(b) {
		err = fmt.Errorf("short write, %d of %d bytes", n, len(b))
	}
	if err != nil {
		k.Log.Warn("a re-sent write over a Rewrite's bytes was not made again: the file may keep older bytes", "seq", seq, "ino", d.Ino(), "offset", off, "err", err)
	}
}

// rewroteUnder says a Rewrite of a call below seq wrote bytes of d's
// file in [off, end) (noteRewrote).
func (k *Kernel) rewroteUnder(d *vfs.Dentry, off, end int64, seq uint64) bool {
	dev, ino := d.GoferDev(), d.Ino()
	k.Mu.Lock()
	defer k.Mu.Unlock()
	for _, s := range k.rewrote {
		if s.dev == dev && s.ino == ino && s.seq < seq && s.off < end && s.off+s.n > off {
			return true
		}
	}
	return false
}

// NoteMappedChange tells the client, in this call's reply, that bytes
// [off, off+n) or the size of f's file changed, if the client maps the
// file (its page cache must follow). The Stat comes from the gofer's write
// reply when there was one, else from a Stat RPC made only for a mapped
// inode.
func (c *Task) NoteMappedChange(f *fdesc.File, off, n uint64) {
	if c.Reply == nil || vfs.DentryOf(f) == nil || vfs.DentryOf(f).Kind != vfs.KindGofer {
		return
	}
	st := c.GoferStat
	c.GoferStat = nil
	if st == nil {
		if !c.Kernel.Maps.Holds(vfs.DentryOf(f).Ino()) {
			return
		}
		var err error
		if st, err = f.Impl.Stat(c); err != nil {
			return
		}
	}
	c.Reply.Mapped = append(c.Reply.Mapped, c.Kernel.MappedChanges(st, off, n, c.PageWrite)...)
}

// NoteMappedResize tells the client, in this call's reply, the new size
// of gofer file d (through handle h, 0: d's own) if the client maps it.
func (c *Task) NoteMappedResize(d *vfs.Dentry, h uint64) {
	if c.Reply == nil || d == nil || d.Kind != vfs.KindGofer || !c.Kernel.Maps.Holds(d.Ino()) {
		return
	}
	if h == 0 {
		var err error
		if h, err = c.HandleOf(d); err != nil {
			return
		}
	}
	st, err := c.Kernel.VFS.GoferStat(h)
	if err != nil {
		return
	}
	c.Reply.Mapped = append(c.Reply.Mapped, c.Kernel.MappedChanges(st, 0, 0, 0)...)
}

// killPrivPart is the Origin part of the SetStat that clears set-id bits
// after a write or truncate (write RPCs number their parts from 0).
const killPrivPart = 1 << 30

// KillPriv clears the set-id bits of gofer file d (through handle h, or
// d's own when h is 0), whose mode was mode, after the caller wrote or
// truncated it, if the caller lacks CAP_FSETID (perm.go: killPrivMode).
// a are the file's attributes before the change.
// The gofer runs with CAP_FSETID, so the host kernel does not do it. A
// failure is logged, not returned: the data change already happened.
func (c *Task) KillPriv(d *vfs.Dentry, h uint64, a auth.FileAttrs) {
	if c == nil || c.Thread == nil {
		return
	}
	cr := c.ProcessCreds()
	nm, changed := cr.KillPrivMode(a)
	if !changed {
		return
	}
	v := c.Kernel.VFS
	if h == 0 {
		var err error
		if h, err = c.HandleOf(d); err != nil {
			return
		}
	}
	ctx, cancel := v.RPCCtx()
	defer cancel()
	r, err := c.Kernel.Gofer.SetStat(ctx, &goferpb.SetStatRequest{Handle: h, Mask: linux.STATX_MODE, Mode: nm & 07777, Origin: c.GoferOrigin(killPrivPart)})
	if err := syserr.FromGofer("setstat (clear set-id bits)", r.GetErrno(), err); err != nil {
		c.Kernel.Log.Debug("clearing set-id bits failed", "err", err)
		return
	}
	v.NoteAttrs(d, r.Stat)
}

// PackedWrite is what the packed reply of a posted write says
// (sentrypb.PostedWrites): the call wrote at Offset of description File
// (its "write/<seq>" record, which the client makes itself from its
// call's bytes) and left the description's offset at MovedTo (-1: not
// moved, or moved further already by a later call's committed change).
type PackedWrite struct {
	File    uint64
	Offset  int64
	MovedTo int64
}

// TakePackedWrite commits the effects of call seq, which returned n, if
// they are one write's to a gofer file alone (writeAlone: its retained
// write, of the call's own bytes, and its description's offset), and
// reports what its packed reply says. The description's record is not
// derived for the reply: it goes with the next message, once for a batch
// of writes (the Tracker's touch), after the replies. Else it commits
// nothing and reports false: the reply carries its records
// (EffectRecords). Precondition: as EffectRecords.
func (k *Kernel) TakePackedWrite(seq uint64, n int64) (PackedWrite, bool) {
	k.Mu.Lock()
	defer k.Mu.Unlock()
	eff, ok := k.Trk.TakeEffectsIf(seq, func(e *CallEffects) bool { return e.writeAlone(n) })
	if !ok {
		return PackedWrite{}, false
	}
	w := eff.Writes[0]
	pw := PackedWrite{File: k.FileID(w.File), Offset: w.Off, MovedTo: -1}
	for _, o := range eff.Offsets {
		if commitOffset(o) {
			pw.MovedTo = o.Off
		}
	}
	k.Trk.Touch(OrderFile, w.File)
	k.Dur.MarkSent(w.File, seq)
	return pw, true
}

// writeAlone says whether e are the effects of one write of n bytes to a
// gofer file and nothing else: its GoferWrite, of the call's own bytes
// (no Data, no mapped file's PageWrite), and at most its description's
// offset. TestWriteAloneFields fails when CallEffects gains a field this
// does not look at.
func (e *CallEffects) writeAlone(n int64) bool {
	if e == nil || len(e.Writes) != 1 || len(e.Offsets) > 1 {
		return false
	}
	w := e.Writes[0]
	if w.Data != nil || w.Mapped != 0 || n < 0 || w.N != uint64(n) || (len(e.Offsets) == 1 && e.Offsets[0].File != w.File) {
		return false
	}
	return len(e.PipeReads) == 0 && len(e.PipeWrites) == 0 && e.StdinRead == 0 && e.StdinSet == 0 && e.StdinOf == nil &&
		!e.Sysv && !e.Mqueue && len(e.Reaped) == 0 && len(e.WBErrInos) == 0 && len(e.WBErrFiles) == 0 &&
		len(e.ConnIO) == 0 && len(e.Eventfds) == 0 && len(e.Netlink) == 0
}
