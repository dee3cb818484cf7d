package kernel

import (
	"bytes"
	"errors"
	"fmt"
	"path"

	"golang.org/x/sys/unix"

	"github.com/runsc-decoupled/runsc-decoupled/proto/goferpb"
	"github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/donated"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/fdesc"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/fsimpl/epoll"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/pipe"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/syserr"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/vfs"
)

// restoreFile rebuilds one open file description.
func (k *Kernel) restoreFile(rc *Task, fs *sentrypb.FileState, s *restoreSet, pipes map[uint64]*Pipe) (*fdesc.File, error) {
	switch fs.Kind {
	case sentrypb.FileState_GOFER:
		f, err := k.restoreGoferFile(rc, fs)
		if err == nil && fs.Memfd != nil {
			if g, ok := f.Impl.(*vfs.GoferFile); ok {
				g.Memfd = s.memfds[string(fs.FileHandle)]
			}
		}
		return f, err
	case sentrypb.FileState_PIPE_READ, sentrypb.FileState_PIPE_WRITE:
		p := pipes[fs.Pipe]
		if p == nil {
			if fs.Pipe == 0 {
				return nil, fmt.Errorf("pipe end without a pipe: %w", unix.EINVAL)
			}
			// Reserved as the pipe's size, whatever the cap: the
			// client held it on its previous server.
			p = pipe.Restore(s.pipes[fs.Pipe], fs.Pipe, k.Mem, k.Trk.TouchPipe)
			pipes[fs.Pipe] = p
		}
		e := &PipeEnd{P: p, Writes: fs.Kind == sentrypb.FileState_PIPE_WRITE || fs.Flags&unix.O_ACCMODE == unix.O_RDWR,
			Reads: fs.Kind == sentrypb.FileState_PIPE_READ}
		d := k.restoreFifo(rc, p, string(fs.Path))
		p.Lock()
		p.AddEndLocked(e.Reads, e.Writes)
		p.Unlock()
		return vfs.NewFile(e, d, fs.Flags), nil
	case sentrypb.FileState_STDIO:
		if fs.StdioStream < 0 || fs.StdioStream > 2 {
			return nil, fmt.Errorf("stdio stream %d: %w", fs.StdioStream, unix.EINVAL)
		}
		f := k.NewStdioFile(fs.StdioStream)
		if fs.StdioSet != 0 {
			k.Mu.Lock()
			set := k.StdioSets[fs.StdioSet]
			k.Mu.Unlock()
			if set == nil {
				return nil, fmt.Errorf("stdio set %d: not in the Restore: %w", fs.StdioSet, unix.EINVAL)
			}
			f = k.NewStdioFileOf(fs.StdioStream, set.ID, set, set.IsTTY(fs.StdioStream), &set.Stdin, &set.TTY)
		}
		f.Flags.Store(fs.Flags)
		return f, nil
	case sentrypb.FileState_EVENTFD, sentrypb.FileState_EPOLL, sentrypb.FileState_SOCKET, sentrypb.FileState_TIMERFD,
		sentrypb.FileState_SIGNALFD, sentrypb.FileState_PIDFD, sentrypb.FileState_MQUEUE:
		return k.restoreKobjFile(rc, fs)
	case sentrypb.FileState_INOTIFY:
		return k.RestoreInotify(rc, fs)
	case sentrypb.FileState_PTY:
		return k.RestorePtyFile(rc, fs)
	case sentrypb.FileState_SYNTHETIC:
		return k.Files.RestoreSyntheticFile(rc, fs)
	}
	return nil, fmt.Errorf("file kind %v: %w", fs.Kind, unix.EINVAL)
}

// RestoreDentry returns the dentry of a file known by its file handle
// (preferred: it follows renames) or its path. The dentry is the one at
// path if that is still the same file, else a detached one (an unlinked
// or moved file: its path is unknown).
func (k *Kernel) RestoreDentry(rc *Task, fh []byte, p string, follow bool) (*vfs.Dentry, error) {
	v := k.VFS
	h, st, err := k.VFS.ReopenHandle(fh)
	if err != nil {
		if rc == nil || p == "" {
			return nil, err
		}
		return v.Resolve(rc, v.Root, p, follow)
	}
	defer k.Releases.Release([]uint64{h})
	return k.dentryFor(rc, p, st, fh), nil
}

// dentryFor returns the dentry for a file with attributes st last known at
// path p.
func (k *Kernel) dentryFor(rc *Task, p string, st *goferpb.Stat, fh []byte) *vfs.Dentry {
	v := k.VFS
	if st.Ino == v.Root.Ino() && st.Mode&unix.S_IFMT == unix.S_IFDIR && (p == "/" || p == "") {
		return v.Root
	}
	if rc != nil && p != "" {
		if d, err := v.Resolve(rc, v.Root, p, false); err == nil && d.Kind == vfs.KindGofer && d.Ino() == st.Ino &&
			d.Mode&unix.S_IFMT == st.Mode&unix.S_IFMT {
			return d
		}
	}
	return v.NewDetachedDentry(st, fh, path.Base(p))
}

// errFileGone says a file known by its file handle (or, without one, its
// inode number and device) is gone: its handle does not reopen, and its
// path names nothing or another inode.
var errFileGone = fmt.Errorf("the file is gone: %w", unix.ESTALE)

// sameInode says a file of attributes st is the inode ino of device dev
// (a FileState's: 0 not known, then any is).
func sameInode(ino, dev uint64, st *goferpb.Stat) bool {
	return ino == 0 || st.Ino == ino && (dev == 0 || st.Dev == dev)
}

// restoreGoferFile reopens a gofer file description: by its file handle,
// else by its path. The path's file must be the handle's (the same file
// handle; without one on either side, the same inode number and device,
// FileState.ino and dev): a path that names another inode now (the file
// was deleted and a new one made under its name) fails with errFileGone,
// as does a path that names nothing when the handle is stale.
func (k *Kernel) restoreGoferFile(rc *Task, fs *sentrypb.FileState) (*fdesc.File, error) {
	v := k.VFS
	fh := fs.FileHandle
	h, st, err := k.VFS.ReopenHandle(fh)
	var d *vfs.Dentry
	if err == nil {
		d = k.dentryFor(rc, string(fs.Path), st, fh)
	} else {
		reopenErr := err
		if rc == nil || len(fs.Path) == 0 {
			return nil, err
		}
		d, err = v.Resolve(rc, v.Root, string(fs.Path), false)
		if err != nil {
			if len(fh) > 0 && errors.Is(reopenErr, unix.ESTALE) && errors.Is(err, unix.ENOENT) {
				return nil, fmt.Errorf("%w: %v, and nothing is at %q", errFileGone, reopenErr, fs.Path)
			}
			return nil, err
		}
		if d.Kind != vfs.KindGofer {
			return nil, unix.ESTALE
		}
		var nfh []byte
		h, st, nfh, err = v.FreshHandle(d)
		if err != nil {
			return nil, err
		}
		other := len(fh) > 0 && len(nfh) > 0 && !bytes.Equal(nfh, fh)
		if len(fh) == 0 || len(nfh) == 0 {
			// No handle to compare (a filesystem that gives none,
			// or a gofer that could not make one): the inode is
			// the identity left.
			other = !sameInode(fs.Ino, fs.Dev, st)
		}
		if other {
			// Another inode: writing or reading it would be another
			// file's data.
			k.Releases.Release([]uint64{h})
			return nil, fmt.Errorf("%w: %v, and %q is another file now (inode %d of device %#x, want %d of %#x)",
				errFileGone, reopenErr, fs.Path, st.Ino, st.Dev, fs.Ino, fs.Dev)
		}
		if len(fh) == 0 {
			fh = nfh
		}
	}
	flags := fs.Flags
	switch {
	case flags&unix.O_PATH != 0:
		k.Releases.Release([]uint64{h})
		return vfs.NewFile(&vfs.PathFile{D: d}, d, flags), nil
	case st.Mode&unix.S_IFMT == unix.S_IFDIR:
		return vfs.NewFile(vfs.NewGoferDir(v, h, fh), d, flags), nil
	case st.Mode&unix.S_IFMT != unix.S_IFREG:
		k.Releases.Release([]uint64{h})
		return nil, unix.ENXIO
	}
	ctx, cancel := v.RPCCtx()
	defer cancel()
	r, err := k.Gofer.Open(ctx, &goferpb.OpenRequest{Handle: h, Flags: flags & (unix.O_ACCMODE | unix.O_APPEND | unix.O_DIRECT | unix.O_SYNC | unix.O_DSYNC)})
	if err := syserr.FromGofer("open", r.GetErrno(), err); err != nil {
		k.Releases.Release([]uint64{h})
		return nil, err
	}
	return vfs.NewFile(vfs.NewGoferFile(v, h, fh, nil), d, flags), nil
}

// restoreMapped reopens a mapped file: read-only, or read-write when the
// client maps it shared and writable (PageWrite writes through it).
func (k *Kernel) restoreMapped(rc *Task, m *sentrypb.MappedFileState) (*fdesc.File, *goferpb.Stat, error) {
	acc := uint32(unix.O_RDONLY)
	if m.Writable {
		acc = unix.O_RDWR
	}
	if h, st, err := k.VFS.ReopenHandle(m.FileHandle); err == nil {
		return k.openHandleMode(h, m.FileHandle, k.dentryFor(rc, string(m.Path), st, m.FileHandle), acc)
	}
	if rc == nil || len(m.Path) == 0 {
		return nil, nil, unix.ESTALE
	}
	d, err := k.VFS.Resolve(rc, k.VFS.Root, string(m.Path), true)
	if err != nil {
		return nil, nil, err
	}
	if d.Kind != vfs.KindGofer {
		return nil, nil, unix.EACCES
	}
	h, st, fh, err := k.VFS.FreshHandle(d)
	if err != nil {
		return nil, nil, err
	}
	other := len(m.FileHandle) > 0 && len(fh) > 0 && !bytes.Equal(fh, m.FileHandle)
	if len(m.FileHandle) == 0 || len(fh) == 0 {
		// No handle to compare: the inode is the identity left.
		other = !sameInode(m.Ino, m.Dev, st)
	}
	if other {
		// Another inode has the path now: not the mapped file.
		k.Releases.Release([]uint64{h})
		return nil, nil, fmt.Errorf("%w: %q is another file now", errFileGone, m.Path)
	}
	return k.openHandleMode(h, fh, d, acc)
}

// Rewrite re-applies a retained write (Rewrite): through the restored
// description it was made by when Restore named it (WriteState), else
// through a description opened by the Rewrite's file handle or path (then
// fsynced before the reply, which says so: rewrite_durable; a file gone
// gets nothing written, and the reply says rewrite_gone). The
// gofer sees the write's original Origin, so a write it already applied
// (its reply cache still has it) is not applied again. The write is
// tracked for durability like the original one: a later Durable for the
// file covers it.
//
// A write the gofer's reply cache cannot answer (a donated fd's pwrite,
// or a restarted gofer) is made again and would move the file's mtime
// past a time the application set after it (tar's utimensat of a
// member): the mtime read before the write is put back after it
// (keepMtime). A write whose bytes the file already holds (it was
// answered, so made) is not made again (fileHolds): a server killed
// between such a write and its keepMtime left the mtime moved for good,
// as the next recovery's Rewrite read the moved one (chaos tar-attrs,
// with kills during recoveries).
//
// A Rewrite through a restored description whose write fails is kept
// failed by the tracker (durable.Tracker.Fail: the description's Durable
// names it held, or stays below it) and the description kept (RewritesFailed): the same
// Rewrite received again by this server (a duplicate) is made through
// it, which ends the failure once made, or answered rewrite_durable
// with nothing written if a truncation to 0 or a later write covering
// it (coverFailed) superseded it meanwhile.
func (k *Kernel) Rewrite(rw *sentrypb.Rewrite, r *sentrypb.Reply) error {
	if rw == nil || rw.Seq == 0 || rw.Offset < 0 {
		return unix.EINVAL
	}
	k.Mu.Lock()
	f := k.Rewrites[rw.Seq]
	delete(k.Rewrites, rw.Seq)
	again := false
	if f == nil {
		// Received again after its write failed (a duplicate): made
		// through the same description, whose tracker entry holds the
		// failure (else, made through a reopened file, that entry
		// would hold the description's Durable below it for good).
		// The client sends none (one Rewrite per retained write per
		// connection, all before its calls: remoteSession.replay), so
		// none comes after a newer write; this serves one that does.
		if f = k.RewritesFailed[rw.Seq]; f != nil {
			delete(k.RewritesFailed, rw.Seq)
			again = true
		}
	}
	k.Mu.Unlock()
	if again && !k.Dur.Failed(f, rw.Seq) {
		// Superseded since it failed (a truncation to 0 removed its
		// bytes, and the Durable announced then covered it; or a later
		// write covered them, durable.Tracker.Cover): made now, it
		// would bring them back over the truncation or the later
		// bytes.
		f.DecRef()
		k.Log.Info("rewrite received again: superseded since its write failed, nothing written", "seq", rw.Seq, "path", string(rw.Path))
		r.RewriteDurable = true
		return nil
	}
	known := f != nil
	if !known {
		fh, err := k.Binder.Unbind(rw.FileHandle)
		if err != nil {
			k.Log.Warn("rewrite refused", "seq", rw.Seq, "err", err)
			return err
		}
		rw.FileHandle = fh
		f, err = k.openForRewrite(rw)
		if errors.Is(err, errFileGone) {
			// Deleted, and nothing holds it: its data are gone (as on
			// Linux), so there is nothing to make durable, and the
			// client drops the write. A file now at its path is
			// another one, which must not get its bytes.
			k.Log.Info("rewrite: the file is gone, nothing written", "seq", rw.Seq, "path", string(rw.Path), "err", err)
			r.RewriteGone = true
			return nil
		}
		if err != nil {
			k.Log.Warn("rewrite: cannot reopen the file", "seq", rw.Seq, "path", string(rw.Path), "err", err)
			return err
		}
	}
	defer f.DecRef()
	g, ok := f.Impl.(*vfs.GoferFile)
	if !ok {
		k.Log.Warn("rewrite: the file is lost", "seq", rw.Seq, "path", string(rw.Path))
		return unix.ESTALE
	}
	before, haveTimes := k.timesBeforeRewrite(g.Handle, rw)
	write := func(c *Task) (int, error) {
		n, err := f.Impl.Write(c, f, rw.Data, rw.Offset)
		if n > c.CachedWritten {
			// Written now, not answered from the reply cache: it may
			// have gone over a later write (redoOverRewrites).
			k.noteRewrote(f, rw.Seq, rw.Offset, n)
		}
		return n, err
	}
	if k.fileHolds(g.Handle, rw) {
		// Made already: only its durability is left to see to. The
		// read may have moved the atime (relatime): put back below.
		write = func(*Task) (int, error) { return len(rw.Data), nil }
	}
	c := &Task{Kernel: k, CallSeq: rw.Seq, Intr: make(chan struct{}), GoferSize: -1}
	defer c.UnpinAll()
	if !known {
		// No file id the client knows to announce it under: make it
		// durable before the reply (the mtime put back with it).
		n, err := write(c)
		if err == nil && n < len(rw.Data) {
			// Not all made: the client keeps it (rewrite_durable
			// would drop it).
			err = fmt.Errorf("short write, %d of %d bytes: %w", n, len(rw.Data), unix.EIO)
		}
		if err == nil {
			if haveTimes {
				k.keepMtime(g.Handle, before, rw)
			}
			err = k.VFS.Fsync(g.Handle, false)
		}
		if err != nil {
			k.Log.Warn("rewrite failed", "seq", rw.Seq, "path", string(rw.Path), "err", err)
			return err
		}
		r.Ret = int64(n)
		// No Durable push will name the write: the client drops it now.
		r.RewriteDurable = true
		return nil
	}
	k.Dur.Begin(f, rw.Seq)
	n, err := write(c)
	if err == nil && n < len(rw.Data) {
		err = fmt.Errorf("short write, %d of %d bytes: %w", n, len(rw.Data), unix.EIO)
	}
	if err != nil {
		// Not in the file: the description's Durable pushes name it
		// held or stay below it (a later write's would drop it at the
		// client), and the client re-sends it at the next recovery.
		k.Dur.Fail(f, rw.Seq, rw.Offset, int64(len(rw.Data)))
		k.keepFailedRewrite(f, rw.Seq)
	} else if k.Dur.End(f, rw.Seq, rw.Offset, n) {
		f.DecRef()
	}
	// The client holds the WriteState already.
	k.Dur.MarkSent(f, rw.Seq)
	if err != nil {
		k.Log.Warn("rewrite failed", "seq", rw.Seq, "path", string(rw.Path), "err", err)
		return fmt.Errorf("rewrite of seq %d: %w", rw.Seq, err)
	}
	if haveTimes {
		k.keepMtime(g.Handle, before, rw)
	}
	r.Ret = int64(n)
	return nil
}

// keepFailedRewrite keeps f, the restored description through which the
// Rewrite of call seq failed, for a Rewrite of seq received again
// (RewritesFailed), with a reference of its own.
func (k *Kernel) keepFailedRewrite(f *fdesc.File, seq uint64) {
	k.Mu.Lock()
	defer k.Mu.Unlock()
	if k.Destroyed || k.RewritesFailed[seq] != nil {
		return
	}
	if k.RewritesFailed == nil {
		k.RewritesFailed = make(map[uint64]*fdesc.File)
	}
	f.IncRef()
	k.RewritesFailed[seq] = f
}

// rewriteTimes are a file's times before a Rewrite.
type rewriteTimes struct{ atimeNs, mtimeNs int64 }

// timesBeforeRewrite returns the times of handle h's file before rw is
// made again, read past the attribute cache: a donated fd's fstat, else
// the gofer's stat. ok is false if they cannot be read (then the Rewrite
// moves the mtime, as a write does).
func (k *Kernel) timesBeforeRewrite(h uint64, rw *sentrypb.Rewrite) (t rewriteTimes, ok bool) {
	st, err := k.VFS.GoferSizeNow(h)
	if err != nil {
		k.Log.Debug("rewrite: the file's mtime is not read, the write moves it", "seq", rw.Seq, "path", string(rw.Path), "err", err)
		return t, false
	}
	return rewriteTimes{atimeNs: st.AtimeNs, mtimeNs: st.MtimeNs}, true
}

// fileHolds says handle h's file holds rw's bytes at rw's offset
// already, read through a read open of the handle (no fd donated for
// it: the description's own stay as they are). A write that was
// answered was made, so this is the common case; it is not the case
// when a later write changed those bytes (Rewrites come in seq order,
// and the later one's comes after) or the host lost them. Any failure
// says no: the write is made, as before.
func (k *Kernel) fileHolds(h uint64, rw *sentrypb.Rewrite) bool {
	ctx, cancel := k.VFS.RPCCtx()
	r, err := k.Gofer.Open(ctx, &goferpb.OpenRequest{Handle: h, Flags: unix.O_RDONLY}, donated.NotNeeded{})
	cancel()
	if err := syserr.FromGofer("open", r.GetErrno(), err); err != nil {
		k.Log.Debug("rewrite: the file is not read, the write is made", "seq", rw.Seq, "path", string(rw.Path), "err", err)
		return false
	}
	b, err := k.VFS.GoferRead(h, len(rw.Data), rw.Offset)
	return err == nil && bytes.Equal(b, rw.Data)
}

// keepMtime puts the times read before rw was made again back on handle
// h's file. The bytes were in the file already (the write had been
// answered), so the application saw no change: the mtime it last saw
// stays, and the atime that fileHolds' read may have moved. The SetStat
// goes through the attribute cache, which learns the attributes and
// tells the leases of the inode. It carries no Origin: a second recovery
// re-sends the same Rewrite, and a reply cached by Origin would skip the
// SetStat; absolute times are set again harmlessly. A failure (EPERM:
// the gofer may not set the file's times) is logged, and the Rewrite
// still succeeds: its bytes are what matters.
func (k *Kernel) keepMtime(h uint64, t rewriteTimes, rw *sentrypb.Rewrite) {
	ctx, cancel := k.VFS.RPCCtx()
	defer cancel()
	r, err := k.Gofer.SetStat(ctx, &goferpb.SetStatRequest{Handle: h, Mask: unix.STATX_ATIME | unix.STATX_MTIME, AtimeNs: t.atimeNs, MtimeNs: t.mtimeNs})
	if err := syserr.FromGofer("setstat", r.GetErrno(), err); err != nil {
		log := k.Log.Debug
		if !k.rewriteMtimeWarned.Swap(true) {
			log = k.Log.Warn
		}
		log("rewrite: the file's mtime is not put back", "seq", rw.Seq, "path", string(rw.Path), "err", err)
	}
}

// openForRewrite opens the file a Rewrite names for writing.
func (k *Kernel) openForRewrite(rw *sentrypb.Rewrite) (*fdesc.File, error) {
	rc := &Task{Kernel: k, Intr: make(chan struct{}), GoferSize: -1}
	k.Mu.Lock()
	for _, t := range k.Threads {
		rc.Thread, rc.Dead = t, t.Dead
		break
	}
	k.Mu.Unlock()
	defer rc.UnpinAll()
	f, err := k.restoreGoferFile(rc, &sentrypb.FileState{Kind: sentrypb.FileState_GOFER, Flags: unix.O_WRONLY, FileHandle: rw.FileHandle, Path: rw.Path,
		Ino: rw.Ino, Dev: rw.Dev})
	if err != nil {
		return nil, err
	}
	return f, nil
}

// restoreFifo registers restored pipe p as the pipe of the FIFO at path,
// if path names one, and returns its dentry (nil for a pipe(2) pipe).
func (k *Kernel) restoreFifo(rc *Task, p *Pipe, path string) *vfs.Dentry {
	if d := p.FIFO(); rc == nil || path == "" || d != nil {
		return d
	}
	d, err := k.VFS.Resolve(rc, k.VFS.Root, path, false)
	if err != nil || d.Kind != vfs.KindGofer || d.Mode&unix.S_IFMT != unix.S_IFIFO {
		return nil
	}
	k.Fifos.Register(p, d.Ino(), d)
	return d
}

// restoreLinks finishes what spans several restored descriptions:
// socketpairs' data, epoll interests and mq_notify's sockets.
func (k *Kernel) restoreLinks(states map[uint64]*sentrypb.FileState, files map[uint64]*fdesc.File) {
	k.finishRestoredPairs()
	k.restoreEpollInterests(states, files)
	// mq_notify's SIGEV_THREAD registrations name their netlink socket
	// by its description (Restored drops one whose socket is gone).
	k.MQ.LinkSockets(func(id uint64) *fdesc.File { return files[id] })
}

// finishRestoredPairs puts each restored socketpair's queued data back
// (sent by the other end) and closes an end that was not restored (it
// had been closed: its peer reads the data, then end of file).
func (k *Kernel) finishRestoredPairs() {
	for id, rp := range k.RestorePairs {
		cn := rp.Conn
		cn.Mu.Lock()
		for side := 0; side < 2; side++ {
			if err := cn.RefillLocked(side, rp.Ends[1-side], rp.Queued[side]); err != nil {
				k.Log.Warn("restore: socketpair data not queued again", "pair", id, "side", side, "err", err)
				cn.Broken = true
			}
		}
		cn.Mu.Unlock()
		for side := 0; side < 2; side++ {
			if rp.Files[side] == nil {
				rp.Ends[side].Release()
			}
		}
	}
	k.RestorePairs = nil
}

// restoreEpollInterests links restored epoll instances to the restored
// descriptions they watch (an interest in a description that was not
// restored is dropped).
func (k *Kernel) restoreEpollInterests(states map[uint64]*sentrypb.FileState, files map[uint64]*fdesc.File) {
	for id, fs := range states {
		if fs.Kind != sentrypb.FileState_EPOLL || fs.Kobj == nil {
			continue
		}
		f := files[id]
		if f == nil {
			continue
		}
		ep, ok := f.Impl.(*epoll.File)
		if !ok {
			continue
		}
		var ins []epoll.Interest
		for _, in := range fs.Kobj.Epoll {
			tf := files[in.File]
			if tf == nil || tf == f {
				k.Log.Warn("restore: epoll interest dropped", "epoll", id, "file", in.File, "fd", in.Fd)
				continue
			}
			ins = append(ins, epoll.Interest{File: tf, FD: in.Fd, Events: in.Events, Data: in.Data, Disabled: in.Disabled})
		}
		ep.Restore(ins)
	}
}
