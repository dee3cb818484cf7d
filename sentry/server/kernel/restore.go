package kernel

import (
	"fmt"
	"slices"
	"sort"

	"golang.org/x/sys/unix"

	"github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/auth"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/fdesc"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/filelock"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/kernel/fdtable"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/kernel/stdio"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/ksignal"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/mount"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/pipe"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/pty"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/syserr"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/vfs"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/statekey"
)

// restoreSet is a Restore's records, by kind.
type restoreSet struct {
	procs   []*sentrypb.ProcessState
	threads []*sentrypb.ThreadState
	fds     []*sentrypb.FdState
	files   map[uint64]*sentrypb.FileState
	fss     map[uint64]*sentrypb.FsState
	sigs    map[uint64]*sentrypb.SigHandState
	pipes   map[uint64]*sentrypb.PipeState
	locks   []*sentrypb.LockState
	maps    []*sentrypb.MappedFileState
	writes  []*sentrypb.WriteState
	ids     *sentrypb.IdState
	stdin   *sentrypb.StdinState
	// setStdin are the StdinStates of spawned processes' stdio sets.
	setStdin map[uint32]*sentrypb.StdinState
	timers   []*sentrypb.TimerState
	// SysV IPC objects (package sysvipc).
	sysvIDs  *sentrypb.SysvIds
	sysvSems []*sentrypb.SysvSemState
	sysvMsgs []*sentrypb.SysvMsgState
	sysvShms []*sentrypb.SysvShmState
	// mqueues are the POSIX message queues (package mqueue).
	mqueues []*sentrypb.MqueueState
	// sysctl is the writable /proc/sys values' record (sysctl.go).
	sysctl *sentrypb.SysctlState
	// mounts are the mount table's records (package mount).
	mounts []*sentrypb.MountState
	maxID  uint64
	// memfds are the memfds of the files, by gofer file handle: the
	// descriptions of one memfd share it, with the union of the seals
	// their records carry (seals only grow).
	memfds map[string]*vfs.Memfd
	// ptys are the pseudo-terminals (package pty).
	ptys []*sentrypb.PtyState
	// wbErrs are the write-behind errors kept on files (package wberr).
	wbErrs []*sentrypb.WriteErrorState
}

func parseRestore(rs *sentrypb.Restore) (*restoreSet, error) {
	s := &restoreSet{
		files:  make(map[uint64]*sentrypb.FileState),
		fss:    make(map[uint64]*sentrypb.FsState),
		sigs:   make(map[uint64]*sentrypb.SigHandState),
		pipes:  make(map[uint64]*sentrypb.PipeState),
		memfds: make(map[string]*vfs.Memfd),
	}
	seen := make(map[statekey.Key]bool)
	bad := func(rec *sentrypb.StateRecord, why string) error {
		return fmt.Errorf("restore: record %q: %s: %w", rec.GetKey(), why, unix.EINVAL)
	}
	id := func(v uint64) uint64 {
		s.maxID = max(s.maxID, v)
		return v
	}
	for _, rec := range rs.GetRecords() {
		if rec == nil || rec.Deleted {
			continue
		}
		key, err := statekey.Parse(rec.Key)
		if err != nil {
			return nil, bad(rec, "unknown key")
		}
		if seen[key] {
			return nil, bad(rec, "duplicate key")
		}
		seen[key] = true
		switch v := rec.Value.(type) {
		case *sentrypb.StateRecord_Process:
			p := v.Process
			if p == nil || p.Pid <= 0 || p.Pid >= MaxTID || p.Ppid < 0 || p.Ppid >= MaxTID {
				return nil, bad(rec, "bad pid")
			}
			id(p.Vm)
			s.procs = append(s.procs, p)
		case *sentrypb.StateRecord_Thread:
			t := v.Thread
			if t == nil || t.Tid <= 0 || t.Tid >= MaxTID || t.Pid <= 0 {
				return nil, bad(rec, "bad tid")
			}
			id(t.Io)
			id(t.Sysvsem)
			s.threads = append(s.threads, t)
		case *sentrypb.StateRecord_Fd:
			f := v.Fd
			if f == nil || f.Fd < 0 || f.Fd >= fdtable.NrOpenMax || f.FdTable == 0 || f.File == 0 {
				return nil, bad(rec, "bad fd")
			}
			id(f.FdTable)
			s.fds = append(s.fds, f)
		case *sentrypb.StateRecord_File:
			f := v.File
			if f == nil || f.Id == 0 || f.Offset < 0 {
				return nil, bad(rec, "bad file")
			}
			if m := f.Memfd; m != nil {
				if f.Kind != sentrypb.FileState_GOFER || len(f.FileHandle) == 0 || len(m.Name) > vfs.MemfdNameMax || m.Seals&^vfs.MemfdSeals != 0 {
					return nil, bad(rec, "bad memfd")
				}
				mi := s.memfds[string(f.FileHandle)]
				if mi == nil {
					mi = vfs.NewMemfd(string(m.Name), 0)
					s.memfds[string(f.FileHandle)] = mi
				}
				mi.MergeSeals(m.Seals)
			}
			s.files[id(f.Id)] = f
		case *sentrypb.StateRecord_Fs:
			if v.Fs == nil || v.Fs.Id == 0 {
				return nil, bad(rec, "bad fs")
			}
			s.fss[id(v.Fs.Id)] = v.Fs
		case *sentrypb.StateRecord_Sighand:
			if v.Sighand == nil || v.Sighand.Id == 0 || len(v.Sighand.Actions) != ksignal.NumSignals*ksignal.SizeofSigaction {
				return nil, bad(rec, "bad sighand")
			}
			s.sigs[id(v.Sighand.Id)] = v.Sighand
		case *sentrypb.StateRecord_Pipe:
			p := v.Pipe
			// Posted writes may fill a pipe past its size by up to
			// pipe.MaxPostedOverflow (PushPostedLocked), and a kill
			// then finds those bytes unread: they are restored too.
			if p == nil || p.Id == 0 || len(p.Data) > max(PipeCapacity, int(p.Capacity))+pipe.MaxPostedOverflow || p.Capacity > MaxPipeSize {
				return nil, bad(rec, "bad pipe")
			}
			s.pipes[id(p.Id)] = p
		case *sentrypb.StateRecord_Mapped:
			if v.Mapped == nil || v.Mapped.FileId == 0 {
				return nil, bad(rec, "bad mapping")
			}
			s.maps = append(s.maps, v.Mapped)
		case *sentrypb.StateRecord_Write:
			if v.Write == nil || v.Write.Seq == 0 {
				return nil, bad(rec, "bad write")
			}
			s.writes = append(s.writes, v.Write)
		case *sentrypb.StateRecord_Ids:
			s.ids = v.Ids
		case *sentrypb.StateRecord_Timer:
			if !validTimerState(v.Timer) {
				return nil, bad(rec, "bad timer")
			}
			s.timers = append(s.timers, v.Timer)
		case *sentrypb.StateRecord_Lock:
			l := v.Lock
			if l == nil {
				return nil, bad(rec, "bad lock")
			}
			for _, hl := range l.Locks {
				if hl == nil || (hl.FdTable == 0) == (hl.File == 0) || hl.Start >= hl.End {
					return nil, bad(rec, "bad held lock")
				}
			}
			s.locks = append(s.locks, l)
		case *sentrypb.StateRecord_SysvIds:
			s.sysvIDs = v.SysvIds
		case *sentrypb.StateRecord_SysvSem:
			if v.SysvSem == nil || v.SysvSem.Perm == nil {
				return nil, bad(rec, "bad semaphore set")
			}
			s.sysvSems = append(s.sysvSems, v.SysvSem)
		case *sentrypb.StateRecord_SysvMsg:
			if v.SysvMsg == nil || v.SysvMsg.Perm == nil {
				return nil, bad(rec, "bad message queue")
			}
			s.sysvMsgs = append(s.sysvMsgs, v.SysvMsg)
		case *sentrypb.StateRecord_SysvShm:
			if v.SysvShm == nil || v.SysvShm.Perm == nil {
				return nil, bad(rec, "bad shared memory segment")
			}
			s.sysvShms = append(s.sysvShms, v.SysvShm)
		case *sentrypb.StateRecord_Mqueue:
			if v.Mqueue == nil || v.Mqueue.Id != key.ID {
				return nil, bad(rec, "bad message queue")
			}
			s.mqueues = append(s.mqueues, v.Mqueue)
		case *sentrypb.StateRecord_Sysctl:
			if v.Sysctl == nil {
				return nil, bad(rec, "bad sysctl")
			}
			s.sysctl = v.Sysctl
		case *sentrypb.StateRecord_Mount:
			if v.Mount == nil {
				return nil, bad(rec, "bad mount")
			}
			s.mounts = append(s.mounts, v.Mount)
		case *sentrypb.StateRecord_Pty:
			if err := pty.CheckState(v.Pty); err != nil || key.Int32ID() != v.Pty.Index {
				return nil, bad(rec, "bad pty")
			}
			s.ptys = append(s.ptys, v.Pty)
		case *sentrypb.StateRecord_WriteError:
			if v.WriteError == nil || v.WriteError.Ino != key.ID || v.WriteError.Errno <= 0 || v.WriteError.Errno > syserr.MaxErrno {
				return nil, bad(rec, "bad write error")
			}
			s.wbErrs = append(s.wbErrs, v.WriteError)
		case *sentrypb.StateRecord_Stdin:
			if v.Stdin == nil {
				return nil, bad(rec, "bad stdin")
			}
			if v.Stdin.StdioSet != 0 {
				if s.setStdin == nil {
					s.setStdin = make(map[uint32]*sentrypb.StdinState)
				}
				s.setStdin[v.Stdin.StdioSet] = v.Stdin
				continue
			}
			s.stdin = v.Stdin
		default:
			return nil, bad(rec, "no value")
		}
	}
	sort.Slice(s.procs, func(i, j int) bool { return s.procs[i].Pid < s.procs[j].Pid })
	return s, nil
}

// restore rebuilds the client's kernel state from a Restore's records
// (sentry.proto, Recovery). Structural errors (malformed or inconsistent
// records) fail the whole call with EINVAL; an object that cannot be
// rebuilt (a file that is gone) is logged, replaced by a stand-in that
// fails with ESTALE, and counted in the reply's ret.
func (k *Kernel) Restore(rs *sentrypb.Restore, r *sentrypb.Reply) error {
	if rs == nil {
		return unix.EINVAL
	}
	if err := k.Binder.UnbindRecords(rs.Records); err != nil {
		k.Log.Warn("restore refused", "err", err)
		return err
	}
	s, err := parseRestore(rs)
	if err == nil && len(rs.StdinUnread) > stdio.MaxUnread {
		err = fmt.Errorf("%d bytes of unread stdin (at most %d): %w", len(rs.StdinUnread), stdio.MaxUnread, unix.EINVAL)
	}
	if err != nil {
		k.Log.Warn("restore refused", "err", err)
		return err
	}
	k.Mu.Lock()
	if err := k.markStartedLocked(); err != nil {
		k.Mu.Unlock()
		return err
	}
	err = k.restoreStdioSetsLocked(rs.StdioSets, s.setStdin)
	var rc *Task
	if err == nil {
		rc, err = k.restoreProcsLocked(s)
	}
	if err == nil && (s.stdin != nil || len(rs.StdinUnread) > 0) {
		k.Stdin.Restore(s.stdin.GetRead(), rs.StdinUnread)
	}
	var timers []restoredTimer
	if err == nil {
		timers = k.restoreTimersLocked(s.timers)
	}
	k.Mu.Unlock()
	if err != nil {
		k.Log.Warn("restore failed", "err", err)
		return err
	}
	defer rc.UnpinAll()
	lost := 0
	lose := func(what string, err error) {
		lost++
		k.Log.Warn("restore: could not rebuild", "object", what, "err", err)
	}

	// The /proc/sys values the application wrote, over the Hello's.
	for _, err := range k.restoreSysctls(s.sysctl) {
		lose("sysctl", err)
	}

	// Mounts, before anything found by path.
	for _, err := range k.restoreMounts(rc, s.mounts) {
		lose("mount", err)
	}

	// Terminals, before their ends' descriptions.
	if err := k.Ptys.Restore(s.ptys); err != nil {
		return err
	}
	k.WbErrs.Restore(s.wbErrs)

	// POSIX message queues, before their descriptions.
	for _, err := range k.MQ.Restore(s.mqueues) {
		lose("message queue", err)
	}

	// Files (gofer RPCs; no lock held).
	files := make(map[uint64]*fdesc.File, len(s.files))
	pipes := make(map[uint64]*Pipe)
	ids := make([]uint64, 0, len(s.files))
	for id := range s.files {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	for _, id := range ids {
		fs := s.files[id]
		f, err := k.restoreFile(rc, fs, s, pipes)
		if err != nil {
			lose(fmt.Sprintf("file %d (%s %q)", id, fs.Kind, fs.Path), err)
			f = vfs.NewFile(&vfs.LostFile{FH: fs.FileHandle, Path: string(fs.Path)}, nil, fs.Flags)
		}
		f.ID.Store(id)
		f.Recorded.Store(true) // the client's log holds its record
		f.Off = fs.Offset
		f.OffRep.Store(fs.Offset)
		if fs.WriteError > 0 && fs.WriteError <= syserr.MaxErrno {
			f.WBErr.Store(fs.WriteError)
		}
		if vfs.DentryOf(f) != nil && vfs.DentryOf(f).IsDir() {
			f.Dir = fdesc.DirCursorAt(fs.Offset)
		}
		f.SetTracker(k.Trk)
		k.restoreAsync(f, fs)
		files[id] = f
	}
	k.restoreLinks(s.files, files)

	// Working directories and executables.
	cwds := make(map[uint64]*vfs.Dentry)
	for id, fs := range s.fss {
		rc.SetRestoreNS(fs.MntNs) // the path as the context's namespace sees it
		d, err := k.RestoreDentry(rc, fs.CwdHandle, string(fs.Cwd), true)
		if err != nil {
			lose(fmt.Sprintf("cwd %q of fs %d", fs.Cwd, id), err)
			d = k.VFS.Root
		}
		cwds[id] = d
	}
	// Roots (chroot), found as the cwds are. One not found refuses the
	// restore, unlike a lost cwd: its processes would otherwise come
	// back confined nowhere.
	roots := make(map[uint64]*vfs.Dentry)
	for id, fs := range s.fss {
		if len(fs.Root) == 0 && len(fs.RootHandle) == 0 {
			continue
		}
		rc.SetRestoreNS(fs.MntNs)
		d, err := k.RestoreDentry(rc, fs.RootHandle, string(fs.Root), true)
		if err != nil {
			// As for an fd naming no description below: the
			// descriptions rebuilt go with the restore's references.
			for _, f := range files {
				f.DecRef()
			}
			return fmt.Errorf("restore: root %q of fs %d: %w", fs.Root, id, err)
		}
		if d != k.VFS.Root {
			roots[id] = d
		}
	}
	rc.SetRestoreNS(0)
	exes := make(map[int32]*vfs.Dentry)
	for _, p := range s.procs {
		if len(p.Exe) != 0 && rc != nil {
			if d, err := k.VFS.Resolve(rc, k.VFS.Root, string(p.Exe), true); err == nil {
				exes[p.Pid] = d
			}
		}
	}

	// Fd tables.
	var drop []*fdesc.File
	k.Mu.Lock()
	for _, fd := range s.fds {
		tab := k.restoreTabs[fd.FdTable]
		f := files[fd.File]
		if tab == nil || f == nil {
			k.Mu.Unlock()
			// The descriptions rebuilt go with the restore's own
			// references (those installed already, with their tables,
			// when the client goes): the client tries again with the
			// same records, a new client each time.
			for _, f := range files {
				f.DecRef()
			}
			return fmt.Errorf("restore: fd %d of table %d names table or file %d that is not restored: %w", fd.Fd, fd.FdTable, fd.File, unix.EINVAL)
		}
		f.IncRef()
		if old, _ := tab.InstallAt(fd.Fd, f, fd.Cloexec, true, fd.Seq); old != nil {
			drop = append(drop, old)
		}
	}
	if len(roots) > 0 {
		k.Rooted.Store(true) // before a walk can see a root (FSRoot)
	}
	for id, fs := range k.restoreFSs {
		if d := cwds[id]; d != nil {
			fs.Cwd = d
		}
		fs.Root = roots[id]
	}
	for pid, d := range exes {
		if p := k.Procs[pid]; p != nil {
			p.Exe = d
		}
	}
	// Retained writes: keep their files until the Rewrite arrives.
	if k.Rewrites == nil {
		k.Rewrites = make(map[uint64]*fdesc.File)
	}
	for _, w := range s.writes {
		if w.Pipe != 0 {
			continue
		}
		if f := files[w.File]; f != nil {
			if _, ok := f.Impl.(*vfs.GoferFile); ok && k.Rewrites[w.Seq] == nil {
				f.IncRef()
				k.Rewrites[w.Seq] = f
			}
		}
	}
	k.restoreLocksLocked(s.locks, k.restoreTabs, files)
	k.restoreTabs, k.restoreFSs = nil, nil
	k.restoreSpawnedTTYsLocked(s.procs)
	k.Mu.Unlock()
	for _, f := range drop {
		f.DecRef()
	}

	// Mapped files.
	for _, m := range s.maps {
		f, st, err := k.restoreMapped(rc, m)
		if err != nil {
			lose(fmt.Sprintf("mapped file %d %q", m.FileId, m.Path), err)
			continue
		}
		k.Maps.Insert(m.FileId, f, MappedKey(st), int(m.Refs), f.Writable())
	}

	// SysV IPC objects (a segment's file is opened again on its next
	// shmat; its mappings were restored above).
	for _, err := range k.IPC.Restore(s.sysvIDs, s.sysvSems, s.sysvMsgs, s.sysvShms) {
		lose("SysV IPC object", err)
	}

	// Drop the restore's own references: a description no fd, pipe or
	// retained write needs goes away (and so does its record).
	var orphans []uint64
	for id, f := range files {
		f.DecRef()
		if f.Released() {
			orphans = append(orphans, id)
		}
	}

	k.Ptys.Prune()

	// The client has all of this already: report only what the restore
	// dropped, and the allocators.
	k.Trk.Reset()
	for _, ps := range s.ptys {
		// A terminal whose ends are gone is reported deleted.
		k.Trk.Changed(PtyIndex(ps.Index))
	}
	for _, id := range orphans {
		k.Trk.Changed(DeletedKey(statekey.File(id)))
	}
	for id, p := range pipes {
		if !p.InUse() {
			k.Trk.Changed(DeletedKey(statekey.Pipe(id)))
		}
	}
	for id := range s.pipes {
		if pipes[id] == nil {
			k.Trk.Changed(DeletedKey(statekey.Pipe(id)))
		}
	}
	// An unlinked queue no restored description holds goes (its record
	// deleted), and so does a SIGEV_THREAD registration whose socket was
	// not restored.
	for _, id := range k.MQ.Restored() {
		k.Log.Warn("restore: message queue's SIGEV_THREAD registration dropped: its socket was not restored", "queue", id)
	}
	// Timers last: an expiration from now on is reported normally.
	armRestoredTimers(timers)

	k.Log.Info("restored", "records", len(rs.GetRecords()), "processes", len(s.procs), "fds", len(s.fds),
		"files", len(s.files), "pipes", len(pipes), "retained_writes", len(s.writes), "timers", len(s.timers), "lost", lost)
	r.Ret = int64(lost)
	return nil
}

// restoreProcsLocked creates the processes, threads, fd tables (empty),
// fs contexts and signal handler tables, and returns a context to resolve
// paths with. Precondition: k.Mu is held.
func (k *Kernel) restoreProcsLocked(s *restoreSet) (*Task, error) {
	k.Trk.BumpID(s.maxID)
	if s.ids != nil {
		if s.ids.NextObject > 0 {
			k.Trk.BumpID(s.ids.NextObject - 1)
		}
		if s.ids.LastPid > 0 && s.ids.LastPid < MaxTID {
			k.LastTID = max(k.LastTID, s.ids.LastPid)
		}
	}
	sigs := make(map[uint64]*ksignal.Handlers)
	for id, sh := range s.sigs {
		h := &ksignal.Handlers{ID: id}
		parseSigActions(sh.Actions, h)
		sigs[id] = h
	}
	fss := make(map[uint64]*FSContext)
	for id, fs := range s.fss {
		if fs.MntNs > mount.MaxNamespace {
			return nil, fmt.Errorf("restore: fs %d: mount namespace %d: %w", id, fs.MntNs, unix.EINVAL)
		}
		fss[id] = &FSContext{ID: id, Umask: fs.Umask & 0777, Cwd: k.VFS.Root, MntNS: fs.MntNs}
		if fs.MntNs != 0 {
			k.Namespaced.Store(true) // before a walk can see a namespace (MountNS)
			k.LastMntNS = max(k.LastMntNS, fs.MntNs)
		}
	}
	tabs := make(map[uint64]*fdtable.Table)
	// The address spaces, I/O contexts and undo lists kcmp compares,
	// shared as the records name them (one id namespace).
	idents := make(map[uint64]*Identity)
	byPID := make(map[int32]*sentrypb.ProcessState)
	for _, ps := range s.procs {
		p, err := k.NewProcessLocked(ps.Pid, nil)
		if err != nil {
			return nil, fmt.Errorf("restore: process %d: %w", ps.Pid, err)
		}
		byPID[ps.Pid] = ps
		if ps.Gen != 0 {
			// The generation the pidfds' records name; the processes
			// made after the restore count on from the highest.
			p.Gen = ps.Gen
			k.lastGen = max(k.lastGen, ps.Gen)
		}
		p.PGID, p.SID, p.ExitSignal = ps.Pgid, ps.Sid, int(ps.ExitSignal)
		p.FsizeLimited, p.FsizeLimit = ps.FsizeLimited, ps.FsizeLimit
		p.CoreDumps, p.CoredumpFilter = ps.CoreDumps, ps.CoredumpFilter
		p.OOMScoreAdj, p.OOMScoreAdjMin = ps.OomScoreAdj, ps.OomScoreAdjMin
		p.ChildSubreaper = ps.ChildSubreaper
		p.NiceLimit, p.RTPrioLimit = ps.NiceLimit, ps.RtprioLimit
		if sig := int(ps.PdeathSignal); sig > 0 && sig <= ksignal.NumSignals {
			p.PdeathSignal = sig
		}
		p.Execed = ps.Execed
		p.VM = restoredIdentity(idents, ps.Vm)
		k.restoreJobControlLocked(p, ps)
		if p.ExitSignal < 0 || p.ExitSignal > ksignal.NumSignals {
			p.ExitSignal = int(unix.SIGCHLD)
		}
		// The fs ids follow the effective ones unless the record says
		// otherwise (ProcessState.fsuid, fsgid).
		fsuid, fsgid := ps.Euid, ps.Egid
		if ps.Fsuid != nil {
			fsuid = ps.GetFsuid()
		}
		if ps.Fsgid != nil {
			fsgid = ps.GetFsgid()
		}
		if err := k.Grant.MayRunAs([]uint32{ps.Ruid, ps.Euid, ps.Suid, fsuid}, []uint32{ps.Rgid, ps.Egid, ps.Sgid, fsgid}); err != nil {
			return nil, fmt.Errorf("restore: process %d: %w", ps.Pid, err)
		}
		p.Creds = auth.Creds{RUID: ps.Ruid, EUID: ps.Euid, SUID: ps.Suid, FSUID: fsuid,
			RGID: ps.Rgid, EGID: ps.Egid, SGID: ps.Sgid, FSGID: fsgid,
			Caps: capsFromProto(ps.Caps, ps.Euid)}
		if n := len(ps.Groups); n > 0 && n <= auth.MaxGroups {
			p.Creds.Groups = slices.Clone(ps.Groups)
		}
		p.Comm, p.Argv, p.Env = string(ps.Comm), sentrypb.StringList(ps.Argv), sentrypb.StringList(ps.Env)
		if ps.Init {
			if k.Init != nil {
				return nil, fmt.Errorf("restore: two init processes: %w", unix.EINVAL)
			}
			k.Init = p
		}
		if ps.Zombie {
			p.Exiting, p.Zombie, p.ExitStatus = true, true, ps.ExitStatus
			t := k.Threads[p.PID]
			t.Killed, t.ExitStatus = true, ps.ExitStatus
			close(t.Dead)
			delete(p.Live, t)
			if p.Sig = sigs[ps.Sighand]; p.Sig == nil {
				p.Sig = &ksignal.Handlers{}
			}
			continue
		}
		if ps.FdTable != 0 {
			tab := tabs[ps.FdTable]
			if tab == nil {
				tab = NewFDTable(k.Trk, k.Locks, &k.Sysctl.NrOpen)
				tab.SetID(ps.FdTable)
				tabs[ps.FdTable] = tab
			} else {
				tab.IncRef()
			}
			if ps.Nofile > 0 {
				tab.SetLimit(int32(min(ps.Nofile, fdtable.NrOpenMax)))
			}
			// The room a lowered nr_open (restored with the
			// sysctl record) leaves the table, as the client knows it.
			if ps.FdRoom > 0 {
				tab.RestoreRoom(int(ps.FdRoom))
			}
			p.FDs = tab
		} else {
			p.FDs = NewFDTable(k.Trk, k.Locks, &k.Sysctl.NrOpen)
		}
		if p.FS = fss[ps.Fs]; p.FS == nil {
			p.FS = &FSContext{Umask: 022, Cwd: k.VFS.Root}
		}
		p.FS.Refs++
		if p.Sig = sigs[ps.Sighand]; p.Sig == nil {
			p.Sig = &ksignal.Handlers{}
		}
	}
	for _, ps := range s.procs {
		p := k.Procs[ps.Pid]
		if par := k.Procs[ps.Ppid]; par != nil && par != p {
			p.Parent = par
			par.Children[p] = struct{}{}
		} else if ps.Ppid == 0 && !ps.Init {
			p.Spawned = true
		}
	}
	// Threads: the leader exists already; others are created, and a
	// leader no ThreadState names has exited (its process lives on).
	named := make(map[int32]bool)
	for _, ts := range s.threads {
		p := k.Procs[ts.Pid]
		if p == nil || p.Zombie {
			k.Log.Warn("restore: thread of a missing or zombie process ignored", "tid", ts.Tid, "pid", ts.Pid)
			continue
		}
		named[ts.Pid] = true
		if ts.Tid == ts.Pid {
			named[-ts.Pid] = true // the leader is alive
			if th := k.Threads[ts.Tid]; th != nil {
				th.restoreSched(ts)
				th.IO, th.SemUndo = restoredIdentity(idents, ts.Io), restoredIdentity(idents, ts.Sysvsem)
			}
			continue
		}
		tid, err := k.AllocTIDLocked(ts.Tid)
		if err != nil {
			return nil, fmt.Errorf("restore: thread %d: %w", ts.Tid, err)
		}
		th := k.NewThreadLocked(p, tid)
		th.restoreSched(ts)
		th.IO, th.SemUndo = restoredIdentity(idents, ts.Io), restoredIdentity(idents, ts.Sysvsem)
	}
	k.restorePtraceLocked(s.threads)
	for pid, p := range k.Procs {
		if p.Zombie || !named[pid] || named[-pid] {
			continue
		}
		t := k.Threads[pid]
		t.Killed = true
		close(t.Dead)
		delete(p.Live, t)
	}
	if k.Init != nil && k.Init.Zombie {
		k.AppExited, k.AppStatus = true, k.Init.ExitStatus
	}
	if k.Init != nil && k.TTY.Present {
		k.TTY.FgPgrp = k.restoredForegroundLocked(byPID[k.Init.PID], k.Init.PGID)
	}
	if s.ids != nil && s.ids.LastPid >= 0 && s.ids.LastPid <= MaxTID {
		// The last pid handed out, or written to ns_last_pid: restoring
		// the threads moved it to the highest id restored, and the next
		// fork must get the id it would have had.
		k.LastTID = s.ids.LastPid
	}
	k.restoreTabs, k.restoreFSs = tabs, fss
	// A context for path lookups: any process's leader thread.
	var t *Thread
	if k.Init != nil {
		t = k.Threads[k.Init.PID]
	}
	for _, th := range k.Threads {
		if t == nil || (t.Killed && !th.Killed) {
			t = th
		}
	}
	if t == nil {
		return nil, nil
	}
	return &Task{Kernel: k, Thread: t, Intr: make(chan struct{}), Dead: t.Dead, GoferSize: -1}, nil
}

// restoreStdioSetsLocked rebuilds the stdio sets of a Restore, before
// the files that use them.
//
// Preconditions: k.Mu is locked.
func (k *Kernel) restoreStdioSetsLocked(sets []*sentrypb.StdioSet, reads map[uint32]*sentrypb.StdinState) error {
	for _, ss := range sets {
		if ss == nil {
			return fmt.Errorf("nil stdio set: %w", unix.EINVAL)
		}
		if len(ss.StdinUnread) > stdio.MaxUnread {
			return fmt.Errorf("stdio set %d: %d bytes of unread stdin (at most %d): %w", ss.Id, len(ss.StdinUnread), stdio.MaxUnread, unix.EINVAL)
		}
		s, err := k.StdioSetLocked(ss.Id, ss.Stdio)
		if err != nil {
			return err
		}
		s.Stdin.Restore(reads[ss.Id].GetRead(), ss.StdinUnread)
	}
	return nil
}

// restoreSpawnedTTYsLocked gives each restored stdio set's terminal the
// session of the spawned process whose stdin it is (Spawn made that
// process its session) and the foreground group its record names
// (ProcessState.tty_foreground_pgrp; else the process's own group).
//
// Preconditions: k.Mu is locked; fd tables are restored.
func (k *Kernel) restoreSpawnedTTYsLocked(recs []*sentrypb.ProcessState) {
	byPID := make(map[int32]*sentrypb.ProcessState, len(recs))
	for _, ps := range recs {
		byPID[ps.Pid] = ps
	}
	for _, p := range k.Procs {
		if !p.Spawned || p.FDs == nil {
			continue
		}
		f, _, err := p.FDs.Get(0)
		if err != nil {
			continue
		}
		if s, ok := f.Impl.(*StdioFile); ok && s.Set != 0 && s.Term.Present && s.Term.Sid == 0 {
			s.Term.Sid, s.Term.FgPgrp = p.SID, k.restoredForegroundLocked(byPID[p.PID], p.PGID)
		}
		f.DecRef()
	}
}

// restoreLocksLocked takes the locks of a Restore again for their
// restored owners; a lock whose owner was not restored is dropped.
// Precondition: k.Mu is held.
func (k *Kernel) restoreLocksLocked(states []*sentrypb.LockState, tabs map[uint64]*fdtable.Table, files map[uint64]*fdesc.File) {
	lt := k.Locks
	for _, st := range states {
		var record, flocks []filelock.Held[*fdtable.Table, *fdesc.File]
		for _, hl := range st.Locks {
			l := filelock.Held[*fdtable.Table, *fdesc.File]{Write: hl.Write, Start: hl.Start, End: hl.End, Pid: hl.Pid}
			switch {
			case hl.FdTable != 0 && tabs[hl.FdTable] != nil:
				l.Owner.Table = tabs[hl.FdTable]
			case hl.File != 0 && files[hl.File] != nil:
				l.Owner.File = files[hl.File]
				l.Owner.File.HasLocks.Store(true)
			default:
				k.Log.Warn("restore: lock of an owner that was not restored", "ino", st.Ino, "table", hl.FdTable, "file", hl.File)
				continue
			}
			if hl.Flock {
				flocks = append(flocks, l)
			} else {
				record = append(record, l)
			}
		}
		lt.Restore(st.Ino, record, flocks)
	}
}

// restoreMounts puts a Restore's mounts back in the table, parents first,
// and grafts the sentry's tmpfs mounts again over their mount points
// (their gofer directories are found by name). It returns what could not
// be rebuilt.
func (k *Kernel) restoreMounts(rc *Task, recs []*sentrypb.MountState) []error {
	v := k.VFS
	sort.Slice(recs, func(i, j int) bool { return recs[i].Id < recs[j].Id })
	v.MntMu.Lock()
	defer v.MntMu.Unlock()
	var errs []error
	defer rc.SetRestoreNS(0)
	for _, st := range recs {
		rc.SetRestoreNS(st.GetNs()) // its place as its namespace sees it
		if st.GetNs() != 0 && st.GetNs() <= mount.MaxNamespace {
			k.Namespaced.Store(true)
			k.Mu.Lock()
			k.LastMntNS = max(k.LastMntNS, st.GetNs())
			k.Mu.Unlock()
		}
		if mount.IsFixed(int(st.GetId())) {
			if err := v.Mounts.RestoreFixedPropagation(st); err != nil {
				errs = append(errs, fmt.Errorf("mount %d: %w", st.GetId(), err))
			}
			continue
		}
		m, err := mount.FromRecord(st, 0)
		if err != nil {
			errs = append(errs, fmt.Errorf("mount %d: %w", st.Id, err))
			continue
		}
		if m.BindPath != "" {
			if rc == nil {
				errs = append(errs, fmt.Errorf("mount %d at %q: no process to resolve it", m.ID, m.Target))
				continue
			}
			src, err := v.Resolve(rc, v.Root, m.BindPath, true)
			var point *vfs.Dentry
			if err == nil {
				point, err = v.Resolve(rc, v.Root, m.Target, true)
			}
			if err == nil {
				if m, err = v.Mounts.Add(m); err == nil {
					if _, err = v.GraftBind(point, src, m); err != nil {
						v.Mounts.Remove(m.ID, true)
						k.Trk.Changed(MountID(m.ID))
					}
				}
			}
			if err != nil {
				errs = append(errs, fmt.Errorf("bind mount %d of %q at %q: %w", st.Id, st.BindPath, st.Target, err))
			}
			continue
		}
		if m.Backed {
			if rc == nil {
				errs = append(errs, fmt.Errorf("mount %d at %q: no process to resolve it", m.ID, m.Target))
				continue
			}
			point, err := v.Resolve(rc, v.Root, m.Target, true)
			if err == nil && (point == v.Root || point.Kind != vfs.KindGofer || !point.IsDir()) {
				err = unix.EINVAL
			}
			if err != nil {
				errs = append(errs, fmt.Errorf("mount %d at %q: %w", m.ID, m.Target, err))
				continue
			}
			if m, err = v.Mounts.Add(m); err != nil {
				errs = append(errs, fmt.Errorf("mount %d at %q: %w", st.Id, st.Target, err))
				continue
			}
			if _, err := v.GraftTmpfs(point, m, false); err != nil {
				v.Mounts.Remove(m.ID, true)
				k.Trk.Changed(MountID(m.ID))
				errs = append(errs, fmt.Errorf("tmpfs %d at %q: %w", m.ID, m.Target, err))
			}
			continue
		}
		if _, err := v.Mounts.Add(m); err != nil {
			errs = append(errs, fmt.Errorf("mount %d at %q: %w", m.ID, m.Target, err))
		} else if vfs.IsMqueueMount(m) {
			v.SetMqueue(m.ID)
		}
	}
	return errs
}
