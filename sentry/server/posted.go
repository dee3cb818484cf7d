package server

import (
	"sync"

	"golang.org/x/sys/unix"

	"github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/fdesc"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/kernel"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/postbatch"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/syscalls"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/syserr"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/vfs"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/sysabi"
)

// Posted calls (docs/COMPATIBILITY.md, "Pipelined calls").
//
// The client sends some calls without waiting for their replies
// (Syscall.posted): it told the application their result already. Three
// rules make that invisible:
//
//   - Order. A thread's calls run in order on its worker, so its next
//     call sees a posted call's effect. A call another thread waits on
//     runs only once every posted call that arrived before it (a lower
//     seq: the client sends in seq order) has finished, so a process
//     told of a write through shared memory, not a system call, still
//     reads the written bytes (awaitPostedLocked). So does a posted call
//     marked after_posted (any call a process with several threads
//     posted: another thread's posted call before it may name its fd),
//     for the other threads' posted calls: its own thread's ran before
//     it, and one a run of attribute calls holds unfinished waits for it
//     (attrrun.go).
//     Inline calls read no file state and do not wait.
//   - Interrupts are for the call the thread waits on: a posted call in
//     flight passes an Interrupt on to the thread's next call.
//   - Errors. A posted write that fails or writes fewer bytes than asked
//     (ENOSPC, EDQUOT, EFBIG, EIO...), or a posted ftruncate that fails
//     (runTruncateBehind), keeps its errno on the open file
//     description (fdesc.File.WBErr; EIO for a short count, but for a
//     merged write, Syscall.write_parts, cut exactly between two of its
//     parts: the error its next part's write met); later posted
//     writes of the description then fail with it too, without writing,
//     and the next fsync, fdatasync, waited write-family call or waited
//     close of the description returns it, once (a close still closes).
//     It is kept on the file too (package wberr): as Linux reports a
//     local file's writeback error, a posted close does not report it,
//     and the next fsync or fdatasync of any description of the file
//     (or a syncfs) returns it once, unless the description's own call
//     reported it first.

// isPosted reports whether call is a posted system call.
func isPosted(call *sentrypb.Call) bool {
	sc, ok := call.Op.(*sentrypb.Call_Syscall)
	return ok && sc.Syscall.GetPosted()
}

// afterPosted reports whether posted call call runs only after the
// other threads' posted calls before it (Syscall.after_posted): any call
// a process with several threads posted.
func afterPosted(call *sentrypb.Call) bool {
	sc, ok := call.Op.(*sentrypb.Call_Syscall)
	return ok && sc.Syscall.GetAfterPosted()
}

// notePostedLocked records that the posted call seq of thread tid
// arrived. Precondition: c.k.Mu is held.
func (c *client) notePostedLocked(seq uint64, tid int32) {
	if c.postedOut == nil {
		c.postedOut = make(map[uint64]int32)
	}
	if c.postedDone == nil {
		c.postedDone = sync.NewCond(&c.k.Mu)
	}
	c.postedOut[seq] = tid
}

// postedFinishedLocked records that the posted call seq finished.
// Precondition: c.k.Mu is held.
func (c *client) postedFinishedLocked(seq uint64) {
	delete(c.postedOut, seq)
	c.postedDone.Broadcast()
}

// awaitPostedLocked waits until no posted call below seq is unfinished
// but thread own's (0: none excepted), or the client is destroyed.
// Precondition: c.k.Mu is held (released while waiting).
func (c *client) awaitPostedLocked(seq uint64, own int32) {
	for !c.k.Destroyed && c.postedBelowLocked(seq, own) {
		// A run of attribute calls waiting for its thread's next
		// call ends: this call may observe the file. A posted run's
		// change goes to the gofer now, not with a call to come.
		c.postedWaiters++
		c.wakeRunsLocked()
		c.k.KickPostedSetStats()
		c.postedDone.Wait()
		c.postedWaiters--
	}
}

func (c *client) postedBelowLocked(seq uint64, own int32) bool {
	for s, tid := range c.postedOut {
		if s < seq && (own == 0 || tid != own) {
			return true
		}
	}
	return false
}

// writeBehindCalls are the calls the client may post as a write behind
// (sendto as a send behind, sentry/client/sendbehind.go): their count is
// what the application was told.
var writeBehindCalls = map[int32]bool{unix.SYS_WRITE: true, unix.SYS_PWRITE64: true, unix.SYS_WRITEV: true, unix.SYS_PWRITEV: true, unix.SYS_SENDTO: true}

// requested is the count a write-family call asks for (clipped as its
// handler clips it), -1 if its arguments are bad (it fails anyway).
func requested(c *kernel.Task) int64 {
	switch c.Sysno {
	case unix.SYS_WRITEV, unix.SYS_PWRITEV:
		_, total, err := syscalls.Iovecs(c)
		if err != nil {
			return -1
		}
		return int64(total)
	}
	return int64(min(c.Args[2], sysabi.MaxBuffer))
}

// reportsWriteError are the calls that return a description's kept
// write-behind error.
var reportsWriteError = map[int32]bool{
	unix.SYS_WRITE: true, unix.SYS_PWRITE64: true, unix.SYS_WRITEV: true, unix.SYS_PWRITEV: true, unix.SYS_PWRITEV2: true,
	unix.SYS_FSYNC: true, unix.SYS_FDATASYNC: true, unix.SYS_CLOSE: true, unix.SYS_SYNCFS: true,
	unix.SYS_SENDTO: true,
}

// reportsWriteErrorCall says call c returns a description's kept
// write-behind error: reportsWriteError's calls, and a sync_file_range
// that waits for a write-out, as fdatasync (sysabi's rule, which the
// client follows too).
func reportsWriteErrorCall(c *kernel.Task) bool {
	if c.Sysno == unix.SYS_SYNC_FILE_RANGE {
		return sysabi.SyncFileRangeReportsWriteError(c.Args)
	}
	return reportsWriteError[c.Sysno]
}

// runReportingDeferred runs h for c under the error rule above. skipped
// says h did not run: the call's result is the description's kept error.
func runReportingDeferred(k *kernel.Kernel, h handler, c *kernel.Task, posted bool) (ret int64, skipped bool, err error) {
	if !reportsWriteErrorCall(c) {
		if posted && c.Sysno == unix.SYS_FTRUNCATE {
			return runTruncateBehind(k, h, c)
		}
		return runHandlerPosted(k, h, c, posted)
	}
	if c.Sysno == unix.SYS_SYNCFS {
		// Any file's kept error (package wberr), after the sync.
		ret, err = runHandler(k, h, c)
		e, inos := k.WbErrs.TakeAny()
		if err == nil && e != 0 {
			err = e
		}
		if len(inos) > 0 {
			eff := c.Effects()
			eff.WBErrInos = append(eff.WBErrInos, inos...)
		}
		return ret, false, err
	}
	f, ferr := c.GetFile(syscalls.ArgInt(c, 0))
	if ferr != nil {
		return runHandlerPosted(k, h, c, posted)
	}
	defer f.DecRef()
	if _, ok := f.Impl.(*kernel.PipeEnd); ok {
		// A pipe keeps no error: a posted write that finds no
		// reader fails alone, and the next write meets EPIPE itself
		// (kernel.PipeEnd.writePosted). Nothing is lost: its bytes
		// had no reader.
		ret, err = runHandler(k, h, c)
		if posted && err != nil && err != unix.EPIPE {
			k.Log.Warn("a posted call failed after the application was told it succeeded", "name", syscalls.Name(c.Sysno), "err", err)
		}
		return ret, false, err
	}
	// Only a gofer file is written behind: its inode number names it.
	var ino uint64
	d := vfs.DentryOf(f)
	hasIno := d != nil && d.Kind == vfs.KindGofer
	if hasIno {
		ino = d.Ino()
	}
	kept := unix.Errno(f.WBErr.Load())
	switch {
	case kept == 0:
		ret, err = runHandler(k, h, c)
		if posted && writeBehindCalls[c.Sysno] && (err != nil || ret < requested(c)) {
			e := unix.EIO
			switch {
			case err != nil:
				e = syserr.ErrnoOf(err)
			case c.CutErr != nil:
				// A merged write cut between two of its parts
				// (vfs.MergedWriteCall): the next part's error.
				e = syserr.ErrnoOf(c.CutErr)
			}
			keepWriteBehindError(k, f, e, "a write behind failed; the next fsync or fdatasync of the file reports it")
			return ret, false, err
		}
		if hasIno && err == nil && (c.Sysno == unix.SYS_FSYNC || c.Sysno == unix.SYS_FDATASYNC || c.Sysno == unix.SYS_SYNC_FILE_RANGE) {
			// Another description's write behind failed (or this one
			// was opened after it did): Linux reports it to the next
			// fsync of the file, once.
			if e := k.WbErrs.Take(ino); e != 0 {
				err = e
				eff := c.Effects()
				eff.WBErrInos = append(eff.WBErrInos, ino)
			}
		}
		return ret, false, err
	case posted && writeBehindCalls[c.Sysno]:
		// A later write behind of a failed description does not write.
		return 0, true, kept
	case c.Sysno == unix.SYS_CLOSE && posted:
		// The client posts a close while writes behind of the
		// description are unanswered: as on Linux, the close does not
		// report their error, which stays on the description (its
		// other fds' next fsync reports it) and on the file (package
		// wberr: a copy's failure, copybehind, is kept here).
		if hasIno && k.WbErrs.Keep(ino, kept) {
			k.Trk.Changed(kernel.WBErrIno(ino))
		}
		return runHandlerPosted(k, h, c, posted)
	case c.Sysno == unix.SYS_CLOSE:
		// The fd is closed all the same.
		reportedWriteError(c, f, kept, ino, hasIno)
		ret, err = runHandler(k, h, c)
		if err == nil {
			err = kept
		}
		return ret, false, err
	case posted:
		// Not a call the client posts (fsync, fdatasync).
		return runHandlerPosted(k, h, c, posted)
	default:
		reportedWriteError(c, f, kept, ino, hasIno)
		return 0, true, kept
	}
}

// runTruncateBehind runs h for c, a posted ftruncate (the client's
// truncation of a file it owns, FeatureTruncateBehind), under the error
// rule above: its failure is kept as a failed write behind's is, on the
// description and on its file, for the next fsync, fdatasync,
// write-family call or waited close to report. It runs whatever the
// description keeps: a size change loses nothing the failed write had
// not lost already, and the client's copy of the file was given it.
func runTruncateBehind(k *kernel.Kernel, h handler, c *kernel.Task) (int64, bool, error) {
	ret, err := runHandler(k, h, c)
	if err == nil {
		return ret, false, nil
	}
	f, ferr := c.GetFile(syscalls.ArgInt(c, 0))
	if ferr != nil {
		k.Log.Warn("a posted call failed after the application was told it succeeded", "name", syscalls.Name(c.Sysno), "err", err)
		return ret, false, err
	}
	defer f.DecRef()
	keepWriteBehindError(k, f, syserr.ErrnoOf(err), "a truncation behind failed; the next fsync or fdatasync of the file reports it")
	return ret, false, err
}

// keepWriteBehindError keeps e, the error of a posted change of f the
// application was told succeeded, on f (unless f keeps one already) and
// on its file (package wberr), and logs it with msg.
func keepWriteBehindError(k *kernel.Kernel, f *fdesc.File, e unix.Errno, msg string) {
	if f.WBErr.CompareAndSwap(0, int32(e)) {
		f.Changed()
	}
	if d := vfs.DentryOf(f); d != nil && d.Kind == vfs.KindGofer && k.WbErrs.Keep(d.Ino(), e) {
		k.Trk.Changed(kernel.WBErrIno(d.Ino()))
	}
	logWriteBehindError(k, f, msg, e)
}

// reportedWriteError says that call c reports f's kept write-behind
// error kept: it is forgotten on f and on its file (inode ino, if
// hasIno), and their records' changes go with c's reply only
// (commitEffectsLocked), so that c re-sent after a server kill that
// lost its reply reports it again.
func reportedWriteError(c *kernel.Task, f *fdesc.File, kept unix.Errno, ino uint64, hasIno bool) {
	eff := c.Effects()
	if f.WBErr.CompareAndSwap(int32(kept), 0) {
		eff.WBErrFiles = append(eff.WBErrFiles, f)
	}
	if hasIno && c.Kernel.WbErrs.Seen(ino) {
		eff.WBErrInos = append(eff.WBErrInos, ino)
	}
}

// logWriteBehindError logs, at error level (which `do` shows), that a
// write behind of f failed with e after the application was told it
// succeeded, naming the file.
func logWriteBehindError(k *kernel.Kernel, f *fdesc.File, msg string, e unix.Errno) {
	path := "?"
	if d := vfs.DentryOf(f); d != nil {
		path, _ = k.VFS.PathOf(d)
	}
	k.Log.Error(msg, "path", path, "errno", e.Error())
}

// runHandlerPosted runs h; a posted call that fails is logged (the
// client told the application it succeeded).
func runHandlerPosted(k *kernel.Kernel, h handler, c *kernel.Task, posted bool) (int64, bool, error) {
	ret, err := runHandler(k, h, c)
	if posted && err != nil {
		k.Log.Warn("a posted call failed after the application was told it succeeded", "name", syscalls.Name(c.Sysno), "err", err)
	}
	return ret, false, err
}

// Posted replies in batches (package postbatch). A posted call's reply
// is held while the thread has a next call queued that came on the
// socket (a posted one, or a waited one whose reply will carry it) or,
// for a client that takes them there (FeatureChannelPosted), on a call
// channel, and rides in front of the next message sent to the client
// (any reply, push, heartbeat, a channel reply's posted_replies, or a
// batch alone when the run of posted calls ends), so a run of posted
// calls costs one socket write, and none when a channel call follows. A waited call that
// blocks holds them until the next message to the client: at the latest
// the answer to its next heartbeat; the client never waits for a posted
// reply without sending something. Every send attaches what
// is held (sendRawLocked), and a channel reply is stamped only after it
// was sent, so a held reply is "on the stream" for the ordering rules
// above: a call that waited for it goes out after it.

// replyPosted sends the reply of a posted call, or, for a client that
// takes batches, holds it with its state records for the next message
// when next, the thread's next queued call, came on the socket (see
// above), or on a call channel, or when a channel call is said to follow
// (clientStream.channelFollows), for a client that takes them in a
// channel reply. With no next call, a reply the client lets wait
// (canWait: Syscall.reply_can_wait) lingers too, with the others held,
// if none of them is one it may wait for (mayLinger, lingering.go). It
// reports true when r went packed (HoldWrite, HoldDone): its values were
// copied, and nothing keeps r (the caller may reuse the Task that holds
// it).
func (st *clientStream) replyPosted(r *sentrypb.Reply, next *sentrypb.Call, canWait bool) (packed bool) {
	if !st.postBatch {
		st.reply(r)
		return false
	}
	canWait = canWait && st.linger > 0 && mayLinger(r)
	st.sendMu.Lock()
	linger := next == nil && !st.channelFollows && canWait && !st.postedHeld.Urgent()
	if next == nil && !st.channelFollows && !linger {
		st.sendMu.Unlock()
		st.reply(r)
		return false
	}
	defer st.sendMu.Unlock()
	if next != nil && st.hopRoutes[next.Seq] != nil && !st.channelPosted {
		// A call channel's call, whose reply goes on the channel: the
		// client takes posted replies only on the socket.
		st.sendPostedLocked(r)
		return false
	}
	if st.send == nil {
		return false
	}
	// Before ResultAlone: a reply that takes revocations along is no
	// packed write.
	st.leaseRevokesLocked(r)
	if st.postedHeld.Room() && postbatch.ResultAlone(r) {
		// A write behind whose only effects are its write and its
		// description's offset goes packed (FeaturePostedWrites): the
		// client makes its write record, and the description's record
		// goes with the batch's after the held replies.
		if pw, ok := st.packedWrite(r.Seq, r.Ret); ok {
			st.postedHeld.HoldWrite(r.Seq, r.Ret, pw.File, pw.Offset, pw.MovedTo)
			st.heldLocked(canWait, linger)
			return true
		}
	}
	// Only the call's effects go with it now; what it changed goes, for
	// the whole batch, after the held replies (sendHeldWithLocked).
	r.State = withRecords(r.State, st.effectRecords(r.Seq))
	if postbatch.ResultAlone(r) && st.postedHeld.HoldDone(r.Seq, r.Ret) {
		// A result alone (a umask's, a close's) goes packed: its
		// values copied now, its Task is the thread's next call's.
		st.heldLocked(canWait, linger)
		return true
	}
	if !st.postedHeld.Hold(r) {
		if err := st.sendRawLocked(&sentrypb.ServerMessage{Msg: &sentrypb.ServerMessage_Reply{Reply: r}}); err != nil {
			st.log.Debug("reply dropped", "seq", r.Seq, "err", err)
		}
		return false
	}
	st.heldLocked(canWait, linger)
	return false
}

// sendHeld sends the held posted replies now, in a message of their own,
// if there are any and no call channel's reply is said to take them
// (channelFollows).
func (st *clientStream) sendHeld() {
	st.sendMu.Lock()
	defer st.sendMu.Unlock()
	if !st.channelFollows {
		st.flushHeldLocked()
	}
}

// flushHeldLocked sends the held posted replies now, or lets them linger
// if the client lets them all wait. Precondition: st.sendMu is held.
func (st *clientStream) flushHeldLocked() {
	if st.postedHeld.Len() == 0 || st.send == nil {
		return
	}
	if st.linger > 0 && st.postedHeld.CanLinger() {
		// None the client waits for: they wait for the next message.
		st.lingerLocked()
		return
	}
	st.sendLeaseRevokesLocked()
	if err := st.sendHeldLocked(); err != nil {
		st.log.Debug("posted replies dropped", "err", err)
	}
}

// sendPostedLocked sends r, a posted call's reply, now (with the held
// ones in front). Precondition: st.sendMu is held.
func (st *clientStream) sendPostedLocked(r *sentrypb.Reply) {
	if st.send == nil {
		return
	}
	st.leaseRevokesLocked(r)
	if err := st.sendWithStateLocked(&sentrypb.ServerMessage{Msg: &sentrypb.ServerMessage_Reply{Reply: r}}); err != nil {
		st.log.Debug("reply dropped", "seq", r.Seq, "err", err)
	}
}

// sendRawLocked sends m as it is, with the held posted replies in front
// of it, and the records changed since the last message, if any, between
// the two: in m's state_before (FeatureStateBefore), else in a
// StateUpdate of their own (sendHeldLocked). Precondition: st.sendMu
// is held and a sender attached.
func (st *clientStream) sendRawLocked(m *sentrypb.ServerMessage) error {
	if st.postedHeld.Len() > 0 {
		if recs := st.records(0, false); len(recs) > 0 {
			if st.stateBefore {
				// In m's frame, folded before its content.
				m.StateBefore = append(m.StateBefore, recs...)
			} else if err := st.sendHeldWithLocked(recs); err != nil {
				return err
			}
		}
	}
	return st.attachHeldLocked(m)
}

// attachHeldLocked sends m with the held posted replies in front of it,
// its records derived already (sendRawLocked, sendWithStateLocked).
// Precondition: as sendRawLocked.
func (st *clientStream) attachHeldLocked(m *sentrypb.ServerMessage) error {
	st.heldGoneLocked()
	msg := st.postedHeld.Attach(m)
	if fds := st.fdsNext; fds != nil && m.GetReply().GetHostFd() {
		// The fd a PageRead lent rides with its reply (mappedfd.go).
		st.fdsNext = nil
		return st.sendFDs(msg, fds)
	}
	return st.send(msg)
}

// sendHeldLocked sends the held posted replies in a message of their
// own, followed in it by the records changed since the last message (a
// StateUpdate push), if any. Precondition: as sendRawLocked, and replies
// are held.
func (st *clientStream) sendHeldLocked() error {
	return st.sendHeldWithLocked(st.records(0, false))
}

// sendHeldWithLocked is sendHeldLocked with the records recs.
//
// A held reply carries its call's effects only (replyPosted): the records
// of what the batch changed go once, after the held replies in the same
// frame (in the reply they ride in front of, or a StateUpdate behind
// them), so that a loop of posted umasks sends one "fs/" record a batch,
// not one a call. After, not on one of them: the client counts a posted
// call's change as made until its reply and ignores records of what such
// a call changes meanwhile (an fd's, a umask's), so a record folded
// before a reply of the batch could be one of a later call (an open
// taking the fd a posted close freed) and be lost. In the same frame: a
// call answered is no longer re-sent by a recovery, which restores the
// records. Precondition: as sendHeldLocked.
func (st *clientStream) sendHeldWithLocked(recs []*sentrypb.StateRecord) error {
	m := &sentrypb.ServerMessage{}
	if len(recs) > 0 {
		m.Msg = &sentrypb.ServerMessage_Push{Push: &sentrypb.Push{Msg: &sentrypb.Push_State{State: &sentrypb.StateUpdate{Records: recs}}}}
	}
	st.heldGoneLocked()
	return st.send(st.postedHeld.Attach(m))
}
