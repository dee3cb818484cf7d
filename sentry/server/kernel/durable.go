package kernel

import (
	"fmt"
	"math"
	"time"

	"golang.org/x/sys/unix"

	"github.com/runsc-decoupled/runsc-decoupled/proto/goferpb"
	"github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/fdesc"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/syserr"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/vfs"
)

// Durability (docs/ARCHITECTURE.md, "Recovery"): the client retains every write to a
// gofer file (a WriteState) until a Durable push covers it. The server
// tracks, per client and per gofer file description, the writes not yet
// announced durable; a background flusher (every flushInterval, or sooner
// once a client has more than durable.FlushBytes of them) makes those files
// durable through the gofer, with one batched Fsync per pass (a syncfs in
// the gofer), and pushes Durable{file, seq} for all of them in one
// message. The application's own
// fsync, fdatasync, sync and syncfs do the same before they return.
//
// Durable{file, seq} is exact: every write to file with a seq at or below
// seq that the client could hold (its WriteState already sent) is on
// stable storage, or superseded by a truncation to 0 of the file
// (SyncBeforeResize). A write in flight when the fsync began, or whose
// WriteState is not yet sent, holds the announced seq below its own.
const flushInterval = 500 * time.Millisecond

// AnnounceDurable pushes Durable for f if some of its writes became
// durable and their WriteStates were sent.
func (k *Kernel) AnnounceDurable(f *fdesc.File) {
	var release bool
	err := k.Out.SendBuilt(func() *sentrypb.ServerMessage {
		seq, held, ok, rel := k.Dur.Announce(f)
		release = rel
		if !ok {
			return nil
		}
		return &sentrypb.ServerMessage{Msg: &sentrypb.ServerMessage_Push{Push: &sentrypb.Push{Msg: &sentrypb.Push_Durable{
			Durable: &sentrypb.Durable{File: k.FileID(f), Seq: seq, Held: held}}}}}
	})
	if err != nil {
		k.Log.Debug("durable push dropped", "err", err)
	}
	if release {
		f.DecRef()
	}
}

// maxSyncBatch bounds the files of one batched gofer Fsync.
const maxSyncBatch = 1024

// FlushAll flushes every file with writes not yet announced durable, with
// one gofer Fsync for all of them (a syncfs in the gofer: one disk flush
// instead of one per file), and announces them.
func (k *Kernel) FlushAll() {
	files := k.Dur.Pending()
	type syncing struct {
		f    *fdesc.File
		h    uint64
		seqs []uint64
	}
	var batch []syncing
	for _, f := range files {
		seqs := k.Dur.StartSync(f)
		if len(seqs) == 0 {
			continue
		}
		h, ok := vfs.HandleOfFile(f)
		if !ok {
			k.Log.Warn("background fsync: a tracked file has no gofer handle")
			k.Dur.EndSync(f, seqs, false)
			continue
		}
		batch = append(batch, syncing{f, h, seqs})
	}
	for len(batch) > 0 {
		n := min(len(batch), maxSyncBatch)
		hs := make([]uint64, n)
		for i := range hs {
			hs[i] = batch[i].h
		}
		err := k.VFS.FsyncMany(hs)
		for _, s := range batch[:n] {
			ferr := err
			if err != nil && n > 1 {
				// One file's failure (a handle lost to a gofer restart)
				// must not hold back the others: each on its own.
				ferr = k.VFS.Fsync(s.h, false)
			}
			if ferr != nil {
				k.Log.Warn("background fsync failed", "err", ferr)
			}
			k.Dur.EndSync(s.f, s.seqs, ferr == nil)
		}
		batch = batch[n:]
	}
	k.announceDurableAll(files)
}

// announceDurableAll is AnnounceDurable for each of files, in one push
// (a DurableBatch when several have news): one message for the client
// to read and fold per flusher pass, not one per file.
func (k *Kernel) announceDurableAll(files []*fdesc.File) {
	var released []*fdesc.File
	err := k.Out.SendBuilt(func() *sentrypb.ServerMessage {
		var ds []*sentrypb.Durable
		for _, f := range files {
			seq, held, ok, rel := k.Dur.Announce(f)
			if rel {
				released = append(released, f)
			}
			if ok {
				ds = append(ds, &sentrypb.Durable{File: k.FileID(f), Seq: seq, Held: held})
			}
		}
		var p *sentrypb.Push
		switch len(ds) {
		case 0:
			return nil
		case 1:
			p = &sentrypb.Push{Msg: &sentrypb.Push_Durable{Durable: ds[0]}}
		default:
			p = &sentrypb.Push{Msg: &sentrypb.Push_Durables{Durables: &sentrypb.DurableBatch{Files: ds}}}
		}
		return &sentrypb.ServerMessage{Msg: &sentrypb.ServerMessage_Push{Push: p}}
	})
	if err != nil {
		k.Log.Debug("durable push dropped", "err", err)
	}
	for _, f := range released {
		f.DecRef()
	}
}

// Flusher runs FlushAll every flushInterval, or when kicked, until the
// client is freed.
func (k *Kernel) Flusher() {
	t := time.NewTicker(flushInterval)
	defer t.Stop()
	for {
		select {
		case <-k.Done:
			return
		case <-t.C:
		case <-k.Dur.Kick():
		}
		k.FlushAll()
	}
}

// gofersOf says which descriptions are of gofer file d (by its inode),
// for the durability tracker's per-file calls.
func gofersOf(d *vfs.Dentry) func(*fdesc.File) bool {
	return func(f *fdesc.File) bool {
		fd := vfs.DentryOf(f)
		return fd != nil && fd.Kind == vfs.KindGofer && fd.Ino() == d.Ino()
	}
}

// SyncBeforeResize tells the client to forget its retained writes to
// gofer file d before a call shrinks d, punches or zeroes a range of it
// or moves its bytes (ftruncate, truncate, an O_TRUNC open, fallocate's
// hole, zero, collapse and insert modes). The client re-sends its
// retained writes at their offsets after a server failure, and a size
// change is not retained (the gofer applied it before the reply; a
// re-sent one is answered from its reply cache): a write retained
// across the change would land again after it on replay and bring back
// what it removed. Announced (Durable) before the change is applied,
// those writes are gone from the client's log whichever side of the
// change a kill falls on, and the writes after it are replayed onto the
// changed file in the order the application made them.
//
// A truncation to 0 (toZero) removes every byte of those writes, so
// they are superseded, not synced: no fsync. Otherwise they are made
// durable first (one fsync). If the call then fails, the caller runs
// SyncAfterFailedResize: superseded writes whose change did not happen
// must reach stable storage after all. A change other than a truncation
// to 0 of a file with a failed Rewrite's write held (Tracker.Fail) is
// refused (EIO).
func (c *Task) SyncBeforeResize(d *vfs.Dentry, toZero bool) error {
	if d == nil || d.Kind != vfs.KindGofer {
		return nil
	}
	k := c.Kernel
	files := k.Dur.HoldWhere(gofersOf(d))
	if len(files) == 0 {
		return nil
	}
	defer func() {
		for _, f := range files {
			f.DecRef()
		}
	}()
	if !toZero {
		for _, f := range files {
			if k.Dur.HasFailed(f) {
				// A Rewrite's write that failed is held by the client
				// (Fail): at the next recovery it would be made again
				// after this change and bring back what it removed
				// (with the description's writes after it, to a client
				// without Durable.held), and dropping it would lose
				// its bytes. The change waits for that write to reach
				// the file (a recovery's Rewrite) or for a truncation
				// to 0.
				k.Log.Warn("resize refused: a re-sent write to the file failed and is not in it", "ino", d.Ino())
				return fmt.Errorf("resize inode %d: a re-sent write to it failed and is not in the file: %w", d.Ino(), unix.EIO)
			}
		}
	}
	if toZero {
		for _, f := range files {
			k.Dur.Supersede(f)
		}
		k.announceDurableAll(files)
		return nil
	}
	seqs := make([][]uint64, len(files))
	var hs []uint64
	for i, f := range files {
		// Also the writes the flusher is syncing now: they must be
		// announced before this change, not after.
		if seqs[i] = k.Dur.StartSyncAll(f); len(seqs[i]) == 0 {
			continue
		}
		if h, ok := vfs.HandleOfFile(f); ok {
			hs = append(hs, h)
		}
	}
	var err error
	if len(hs) > 0 {
		err = k.VFS.FsyncMany(hs)
	}
	for i, f := range files {
		if len(seqs[i]) > 0 {
			k.Dur.EndSync(f, seqs[i], err == nil && len(hs) > 0)
		}
	}
	k.announceDurableAll(files)
	if err != nil {
		return fmt.Errorf("sync inode %d before resizing it: %w", d.Ino(), err)
	}
	return nil
}

// SyncBeforeTruncate is SyncBeforeResize for a truncation of gofer file d
// to length. When every write to d the client retains ends at or below
// length (durable.Tracker.EndsBy), the truncation removes none of their
// bytes and they stay retained, not synced: a program that truncates a
// file to the size it just wrote (Go's build cache, each entry) would
// otherwise wait for an fsync per file.
func (c *Task) SyncBeforeTruncate(d *vfs.Dentry, length int64) error {
	if length > 0 && d != nil && d.Kind == vfs.KindGofer && c.Kernel.Dur.EndsBy(gofersOf(d), length) {
		return nil
	}
	return c.SyncBeforeResize(d, length == 0)
}

// TruncatedToZero tells the client to forget the failed Rewrites' writes
// (durable.Tracker.Fail) to gofer file d once a truncation of d to 0
// was made: their bytes are not in the file, and made at the next
// recovery they would bring back what it removed. SyncBeforeResize
// announced the other writes before the change but left these held
// (Supersede), so that a truncation that fails loses none of their
// bytes. Called before the call's reply: a server that dies before
// this announcement reaches the client leaves them retained, and the
// next recovery makes them again ahead of the re-sent truncation, which
// the gofer's reply cache may answer without truncating again: a re-sent
// truncation to 0 of a file a Rewrite of a lower seq wrote is made again
// (truncateAgain).
func (c *Task) TruncatedToZero(d *vfs.Dentry) {
	if d == nil || d.Kind != vfs.KindGofer {
		return
	}
	k := c.Kernel
	if c.Resent() && k.rewroteUnder(d, 0, math.MaxInt64, c.CallSeq) {
		c.truncateAgain(d)
	}
	if !k.Dur.Failing() {
		return
	}
	files := k.Dur.HoldWhere(gofersOf(d))
	var superseded []*fdesc.File
	for _, f := range files {
		if k.Dur.SupersedeFailed(f) {
			superseded = append(superseded, f)
		}
	}
	if len(superseded) > 0 {
		k.announceDurableAll(superseded)
	}
	for _, f := range files {
		f.DecRef()
	}
}

// truncateAgain truncates d's file to 0 once more, without an Origin: a
// re-sent truncation to 0 that the dead server made was answered from
// the gofer's reply cache, unmade, after this server's Rewrites wrote
// bytes of the file (a failed write whose Durable the dead server did
// not send, or bytes the host lost), which it removed. Made again it
// lands last, an order the application could have seen: its reply
// never came, so no answered call came after it.
func (c *Task) truncateAgain(d *vfs.Dentry) {
	k := c.Kernel
	h, err := c.HandleOf(d)
	if err == nil {
		ctx, cancel := k.VFS.RPCCtx()
		var r *goferpb.SetStatReply
		r, err = k.Gofer.SetStat(ctx, &goferpb.SetStatRequest{Handle: h, Mask: unix.STATX_SIZE, Size: 0})
		cancel()
		err = syserr.FromGofer("setstat", r.GetErrno(), err)
	}
	if err != nil {
		k.Log.Warn("a re-sent truncation over a Rewrite's bytes was not made again: the file may keep them", "ino", d.Ino(), "err", err)
	}
}

// SyncAfterFailedResize makes d's data durable after a truncation to 0
// that SyncBeforeResize announced failed: the writes it superseded are
// still in the file, and the client no longer holds them. The failed
// Rewrites' writes stay held (TruncatedToZero was not called).
func (c *Task) SyncAfterFailedResize(d *vfs.Dentry) {
	if d == nil || d.Kind != vfs.KindGofer {
		return
	}
	h, err := c.HandleOf(d)
	if err == nil {
		err = c.Kernel.VFS.Fsync(h, false)
	}
	if err != nil {
		c.Kernel.Log.Warn("fsync after a failed truncation", "ino", d.Ino(), "err", err)
	}
}

// FailedWriteErr is what an fsync, an fdatasync or a sync_file_range
// that waits (syncfs false), or a syncfs (syncfs true), of description f
// reports of the failed Rewrites' writes the tracker holds
// (durable.Tracker.Fail): EIO, once per description for each failure,
// as Linux reports a writeback error (errseq: file_check_and_advance_wb_err,
// and for syncfs the superblock's). An fsync's are those of f's file
// (its inode), a syncfs's those of every gofer file of f's device. A
// failed write is not in the file and the client holds it to re-send at
// the next recovery, so the fsync's promise does not hold; reported
// once, as on Linux, the application's next fsync of the description
// succeeds (the write still held), and a description opened after the
// failure reports it once too (Linux: only if no description had seen
// it). Once the write is in the file (a Rewrite received again) or
// superseded (a truncation to 0), or the server that held it is gone,
// nothing is reported: the failure is not replay state, and a new
// server's failing Rewrite is a failure of its own.
func (k *Kernel) FailedWriteErr(f *fdesc.File, syncfs bool) error {
	d := vfs.DentryOf(f)
	if d == nil || d.Kind != vfs.KindGofer {
		return nil
	}
	seen := &f.FailSeen
	keep := func(g *fdesc.File) bool {
		gd := vfs.DentryOf(g)
		return gd != nil && gd.Kind == vfs.KindGofer && gd.Ino() == d.Ino() && gd.GoferDev() == d.GoferDev()
	}
	if syncfs {
		seen = &f.FSFailSeen
		keep = func(g *fdesc.File) bool {
			gd := vfs.DentryOf(g)
			return gd != nil && gd.Kind == vfs.KindGofer && gd.GoferDev() == d.GoferDev()
		}
	}
	for {
		old := seen.Load()
		n := k.Dur.FailedAfter(old, keep)
		if n == 0 {
			return nil
		}
		if !seen.CompareAndSwap(old, n) {
			continue // another call of f reported it
		}
		if syncfs {
			return fmt.Errorf("a re-sent write to a file of device %#x failed and is not in it: %w", d.GoferDev(), unix.EIO)
		}
		return fmt.Errorf("a re-sent write to inode %d failed and is not in the file: %w", d.Ino(), unix.EIO)
	}
}

// coverFailed tells the tracker that write of n bytes at off of gofer
// file f was made: a failed Rewrite's write to the same file (inode) it
// covers whole is no longer held (durable.Tracker.Cover), its bytes being
// this write's now. The client drops such a retained write itself when it
// retains the later one (replaylog's overlapLocked); before, the server
// kept holding the failed one's description's Durable below it for the
// rest of the session, so the client kept that description's later
// writes, and a resize of the file failed EIO, until the next recovery.
// Every write the server makes after a failure is made after the failed
// Rewrite (the client sends the application's calls once its Rewrites
// are answered). It costs an atomic load while no failed write is held.
func (k *Kernel) coverFailed(f *fdesc.File, off int64, n int) {
	d := vfs.DentryOf(f)
	if d == nil || d.Kind != vfs.KindGofer || !k.Dur.Failing() {
		return
	}
	k.Dur.Cover(func(g *fdesc.File) bool {
		gd := vfs.DentryOf(g)
		return gd != nil && gd.Kind == vfs.KindGofer && gd.Ino() == d.Ino() && gd.GoferDev() == d.GoferDev()
	}, off, int64(n))
}
