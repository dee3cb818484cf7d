package server

import (
	"fmt"
	"path"
	"slices"
	"sort"

	"golang.org/x/sys/unix"

	"github.com/runsc-decoupled/runsc-decoupled/proto/goferpb"
	"github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/auth"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/fdesc"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/kernel"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/kernel/fdtable"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/kernel/stdio"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/ksignal"
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
	// mounts are the mount table's records (package vfs: mount.go).
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
			if p == nil || p.Pid <= 0 || p.Pid >= kernel.MaxTID || p.Ppid < 0 || p.Ppid >= kernel.MaxTID {
				return nil, bad(rec, "bad pid")
			}
			s.procs = append(s.procs, p)
		case *sentrypb.StateRecord_Thread:
			t := v.Thread
			if t == nil || t.Tid <= 0 || t.Tid >= kernel.MaxTID || t.Pid <= 0 {
				return nil, bad(rec, "bad tid")
			}
			s.threads = append(s.threads, t)
		case *sentrypb.StateRecord_Fd:
			f := v.Fd
			if f == nil || f.Fd < 0 || f.Fd >= fdtable.NrOpen || f.FdTable == 0 || f.File == 0 {
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
					mi = vfs.NewMemfd(m.Name, 0)
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
			if p == nil || p.Id == 0 || len(p.Data) > max(kernel.PipeCapacity, int(p.Capacity)) || p.Capacity > kernel.MaxPipeSize {
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
			if !kernel.ValidTimerState(v.Timer) {
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
func restore(k *clientState, rs *sentrypb.Restore, r *sentrypb.Reply) error {
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
	if k.Started || k.Destroyed {
		k.Mu.Unlock()
		return unix.EBUSY
	}
	k.Started = true
	err = restoreStdioSetsLocked(k, rs.StdioSets, s.setStdin)
	var rc *syscallCtx
	if err == nil {
		rc, err = restoreProcsLocked(k, s)
	}
	if err == nil && (s.stdin != nil || len(rs.StdinUnread) > 0) {
		k.Stdin.Restore(s.stdin.GetRead(), rs.StdinUnread)
	}
	var timers []kernel.RestoredTimer
	if err == nil {
		timers = k.RestoreTimersLocked(s.timers)
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

	// Mounts, before anything found by path.
	for _, err := range restoreMounts(k, rc, s.mounts) {
		lose("mount", err)
	}

	// Terminals, before their ends' descriptions.
	if err := k.Ptys.Restore(s.ptys); err != nil {
		return err
	}
	k.WbErrs.Restore(s.wbErrs)

	// Files (gofer RPCs; no lock held).
	files := make(map[uint64]*file, len(s.files))
	pipes := make(map[uint64]*kernel.Pipe)
	ids := make([]uint64, 0, len(s.files))
	for id := range s.files {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	for _, id := range ids {
		fs := s.files[id]
		f, err := restoreFile(k, rc, fs, s, pipes)
		if err != nil {
			lose(fmt.Sprintf("file %d (%s %q)", id, fs.Kind, fs.Path), err)
			f = vfs.NewFile(&vfs.LostFile{FH: fs.FileHandle, Path: fs.Path}, nil, fs.Flags)
		}
		f.ID.Store(id)
		f.Off = fs.Offset
		f.OffRep.Store(fs.Offset)
		if fs.WriteError > 0 && fs.WriteError <= syserr.MaxErrno {
			f.WBErr.Store(fs.WriteError)
		}
		if vfs.DentryOf(f) != nil && vfs.DentryOf(f).IsDir() {
			f.Dir = fdesc.DirCursorAt(fs.Offset)
		}
		f.SetTracker(k.Trk)
		restoreAsync(k, f, fs)
		files[id] = f
	}
	restoreKobjLinks(k, s.files, files)

	// Working directories and executables.
	cwds := make(map[uint64]*dentry)
	for id, fs := range s.fss {
		d, err := restoreDentry(k, rc, fs.CwdHandle, fs.Cwd, true)
		if err != nil {
			lose(fmt.Sprintf("cwd %q of fs %d", fs.Cwd, id), err)
			d = k.VFS.Root
		}
		cwds[id] = d
	}
	exes := make(map[int32]*dentry)
	for _, p := range s.procs {
		if p.Exe != "" && rc != nil {
			if d, err := k.VFS.Resolve(rc, k.VFS.Root, p.Exe, true); err == nil {
				exes[p.Pid] = d
			}
		}
	}

	// Fd tables.
	var drop []*file
	k.Mu.Lock()
	for _, fd := range s.fds {
		tab := k.RestoreTabs[fd.FdTable]
		f := files[fd.File]
		if tab == nil || f == nil {
			k.Mu.Unlock()
			return fmt.Errorf("restore: fd %d of table %d names table or file %d that is not restored: %w", fd.Fd, fd.FdTable, fd.File, unix.EINVAL)
		}
		f.IncRef()
		if old, _ := tab.InstallAt(fd.Fd, f, fd.Cloexec, true); old != nil {
			drop = append(drop, old)
		}
	}
	for id, fs := range k.RestoreFSs {
		if d := cwds[id]; d != nil {
			fs.Cwd = d
		}
	}
	for pid, d := range exes {
		if p := k.Procs[pid]; p != nil {
			p.Exe = d
		}
	}
	// Retained writes: keep their files until the Rewrite arrives.
	if k.Rewrites == nil {
		k.Rewrites = make(map[uint64]*file)
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
	restoreLocksLocked(k, s.locks, k.RestoreTabs, files)
	k.RestoreTabs, k.RestoreFSs = nil, nil
	restoreSpawnedTTYsLocked(k, s.procs)
	k.Mu.Unlock()
	for _, f := range drop {
		f.DecRef()
	}

	// Mapped files.
	for _, m := range s.maps {
		f, st, err := restoreMapped(k, rc, m)
		if err != nil {
			lose(fmt.Sprintf("mapped file %d %q", m.FileId, m.Path), err)
			continue
		}
		k.Maps.Insert(m.FileId, f, kernel.MappedKey(st), int(m.Refs), f.Writable())
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
		k.Trk.Changed(kernel.PtyIndex(ps.Index))
	}
	for _, id := range orphans {
		k.Trk.Changed(kernel.DeletedKey(statekey.File(id)))
	}
	for id, p := range pipes {
		if !p.InUse() {
			k.Trk.Changed(kernel.DeletedKey(statekey.Pipe(id)))
		}
	}
	for id := range s.pipes {
		if pipes[id] == nil {
			k.Trk.Changed(kernel.DeletedKey(statekey.Pipe(id)))
		}
	}
	// Timers last: an expiration from now on is reported normally.
	kernel.ArmRestoredTimers(timers)

	k.Log.Info("restored", "records", len(rs.GetRecords()), "processes", len(s.procs), "fds", len(s.fds),
		"files", len(s.files), "pipes", len(pipes), "retained_writes", len(s.writes), "timers", len(s.timers), "lost", lost)
	r.Ret = int64(lost)
	return nil
}

// restoreProcsLocked creates the processes, threads, fd tables (empty),
// fs contexts and signal handler tables, and returns a context to resolve
// paths with. Precondition: k.Mu is held.
func restoreProcsLocked(k *clientState, s *restoreSet) (*syscallCtx, error) {
	k.Trk.BumpID(s.maxID)
	if s.ids != nil {
		if s.ids.NextObject > 0 {
			k.Trk.BumpID(s.ids.NextObject - 1)
		}
		if s.ids.LastPid > 0 && s.ids.LastPid < kernel.MaxTID {
			k.LastTID = max(k.LastTID, s.ids.LastPid)
		}
	}
	sigs := make(map[uint64]*ksignal.Handlers)
	for id, sh := range s.sigs {
		h := &ksignal.Handlers{ID: id}
		kernel.ParseSigActions(sh.Actions, h)
		sigs[id] = h
	}
	fss := make(map[uint64]*fsContext)
	for id, fs := range s.fss {
		fss[id] = &fsContext{ID: id, Umask: fs.Umask & 0777, Cwd: k.VFS.Root}
	}
	tabs := make(map[uint64]*fdTable)
	byPID := make(map[int32]*sentrypb.ProcessState)
	for _, ps := range s.procs {
		p, err := k.NewProcessLocked(ps.Pid, nil)
		if err != nil {
			return nil, fmt.Errorf("restore: process %d: %w", ps.Pid, err)
		}
		byPID[ps.Pid] = ps
		p.PGID, p.SID, p.ExitSignal = ps.Pgid, ps.Sid, int(ps.ExitSignal)
		p.FsizeLimited, p.FsizeLimit = ps.FsizeLimited, ps.FsizeLimit
		p.CoreDumps, p.CoredumpFilter = ps.CoreDumps, ps.CoredumpFilter
		p.Execed = ps.Execed
		k.RestoreJobControlLocked(p, ps)
		if p.ExitSignal < 0 || p.ExitSignal > ksignal.NumSignals {
			p.ExitSignal = int(unix.SIGCHLD)
		}
		if err := k.Grant.MayRunAs([]uint32{ps.Ruid, ps.Euid, ps.Suid}, []uint32{ps.Rgid, ps.Egid, ps.Sgid}); err != nil {
			return nil, fmt.Errorf("restore: process %d: %w", ps.Pid, err)
		}
		p.Creds = auth.Creds{RUID: ps.Ruid, EUID: ps.Euid, SUID: ps.Suid, FSUID: ps.Euid,
			RGID: ps.Rgid, EGID: ps.Egid, SGID: ps.Sgid, FSGID: ps.Egid,
			Caps: kernel.CapsFromProto(ps.Caps, ps.Euid)}
		if n := len(ps.Groups); n > 0 && n <= auth.MaxGroups {
			p.Creds.Groups = slices.Clone(ps.Groups)
		}
		p.Comm, p.Argv, p.Env = ps.Comm, ps.Argv, ps.Env
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
				tab = kernel.NewFDTable(k.Trk, k.Locks)
				tab.SetID(ps.FdTable)
				tabs[ps.FdTable] = tab
			} else {
				tab.IncRef()
			}
			if ps.Nofile > 0 {
				tab.SetLimit(int32(min(ps.Nofile, fdtable.NrOpen)))
			}
			p.FDs = tab
		} else {
			p.FDs = kernel.NewFDTable(k.Trk, k.Locks)
		}
		if p.FS = fss[ps.Fs]; p.FS == nil {
			p.FS = &fsContext{Umask: 022, Cwd: k.VFS.Root}
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
			continue
		}
		tid, err := k.AllocTIDLocked(ts.Tid)
		if err != nil {
			return nil, fmt.Errorf("restore: thread %d: %w", ts.Tid, err)
		}
		k.NewThreadLocked(p, tid)
	}
	k.RestorePtraceLocked(s.threads)
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
		k.TTY.FgPgrp = k.RestoredForegroundLocked(byPID[k.Init.PID], k.Init.PGID)
	}
	k.RestoreTabs, k.RestoreFSs = tabs, fss
	// A context for path lookups: any process's leader thread.
	var t *thread
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
	return &syscallCtx{Kernel: k, Thread: t, Intr: make(chan struct{}), Dead: t.Dead, GoferSize: -1}, nil
}

// restoreFile rebuilds one open file description.
func restoreFile(k *clientState, rc *syscallCtx, fs *sentrypb.FileState, s *restoreSet, pipes map[uint64]*kernel.Pipe) (*file, error) {
	switch fs.Kind {
	case sentrypb.FileState_GOFER:
		f, err := restoreGoferFile(k, rc, fs)
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
		e := &kernel.PipeEnd{P: p, Writes: fs.Kind == sentrypb.FileState_PIPE_WRITE || fs.Flags&unix.O_ACCMODE == unix.O_RDWR,
			Reads: fs.Kind == sentrypb.FileState_PIPE_READ}
		d := restoreFifo(k, rc, p, fs.Path)
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
		sentrypb.FileState_SIGNALFD:
		return restoreKobjFile(k, rc, fs)
	case sentrypb.FileState_INOTIFY:
		return restoreInotify(k, rc, fs)
	case sentrypb.FileState_PTY:
		return restorePtyFile(k, rc, fs)
	case sentrypb.FileState_SYNTHETIC:
		if rc == nil || fs.Path == "" {
			return nil, unix.ENOENT
		}
		d, err := k.VFS.Resolve(rc, k.VFS.Root, fs.Path, false)
		if err != nil {
			return nil, err
		}
		f, err := openDentry(rc, d, fs.Flags&^(unix.O_CREAT|unix.O_TRUNC|unix.O_EXCL), nil)
		if err != nil {
			return nil, err
		}
		f.Flags.Store(fs.Flags & keptOpenFlags)
		return f, nil
	}
	return nil, fmt.Errorf("file kind %v: %w", fs.Kind, unix.EINVAL)
}

// restoreDentry returns the dentry of a file known by its file handle
// (preferred: it follows renames) or its path. The dentry is the one at
// path if that is still the same file, else a detached one (an unlinked
// or moved file: its path is unknown).
func restoreDentry(k *clientState, rc *syscallCtx, fh []byte, p string, follow bool) (*dentry, error) {
	v := k.VFS
	h, st, err := k.VFS.ReopenHandle(fh)
	if err != nil {
		if rc == nil || p == "" {
			return nil, err
		}
		return v.Resolve(rc, v.Root, p, follow)
	}
	defer k.Releases.Release([]uint64{h})
	return dentryFor(k, rc, p, st, fh), nil
}

// dentryFor returns the dentry for a file with attributes st last known at
// path p.
func dentryFor(k *clientState, rc *syscallCtx, p string, st *goferpb.Stat, fh []byte) *dentry {
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

// restoreGoferFile reopens a gofer file description: by its file handle,
// else by its path.
func restoreGoferFile(k *clientState, rc *syscallCtx, fs *sentrypb.FileState) (*file, error) {
	v := k.VFS
	fh := fs.FileHandle
	h, st, err := k.VFS.ReopenHandle(fh)
	var d *dentry
	if err == nil {
		d = dentryFor(k, rc, fs.Path, st, fh)
	} else {
		if rc == nil || fs.Path == "" {
			return nil, err
		}
		d, err = v.Resolve(rc, v.Root, fs.Path, false)
		if err != nil {
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
func restoreMapped(k *clientState, rc *syscallCtx, m *sentrypb.MappedFileState) (*file, *goferpb.Stat, error) {
	acc := uint32(unix.O_RDONLY)
	if m.Writable {
		acc = unix.O_RDWR
	}
	if h, st, err := k.VFS.ReopenHandle(m.FileHandle); err == nil {
		return k.OpenHandleMode(h, m.FileHandle, dentryFor(k, rc, m.Path, st, m.FileHandle), acc)
	}
	if rc == nil || m.Path == "" {
		return nil, nil, unix.ESTALE
	}
	d, err := k.VFS.Resolve(rc, k.VFS.Root, m.Path, true)
	if err != nil {
		return nil, nil, err
	}
	if d.Kind != vfs.KindGofer {
		return nil, nil, unix.EACCES
	}
	h, _, fh, err := k.VFS.FreshHandle(d)
	if err != nil {
		return nil, nil, err
	}
	return k.OpenHandleMode(h, fh, d, acc)
}

// rewrite re-applies a retained write (Rewrite): through the restored
// description it was made by when Restore named it (WriteState), else
// through a description opened by the Rewrite's file handle or path. The
// gofer sees the write's original Origin, so a write it already applied
// (its reply cache still has it) is not applied again. The write is
// tracked for durability like the original one: a later Durable for the
// file covers it.
func rewrite(k *clientState, rw *sentrypb.Rewrite, r *sentrypb.Reply) error {
	if rw == nil || rw.Seq == 0 || rw.Offset < 0 {
		return unix.EINVAL
	}
	k.Mu.Lock()
	f := k.Rewrites[rw.Seq]
	delete(k.Rewrites, rw.Seq)
	k.Mu.Unlock()
	known := f != nil
	if !known {
		fh, err := k.Binder.Unbind(rw.FileHandle)
		if err != nil {
			k.Log.Warn("rewrite refused", "seq", rw.Seq, "err", err)
			return err
		}
		rw.FileHandle = fh
		f, err = openForRewrite(k, rw)
		if err != nil {
			k.Log.Warn("rewrite: cannot reopen the file", "seq", rw.Seq, "path", rw.Path, "err", err)
			return err
		}
	}
	defer f.DecRef()
	if _, ok := f.Impl.(*vfs.GoferFile); !ok {
		k.Log.Warn("rewrite: the file is lost", "seq", rw.Seq, "path", rw.Path)
		return unix.ESTALE
	}
	c := &syscallCtx{Kernel: k, CallSeq: rw.Seq, Intr: make(chan struct{}), GoferSize: -1}
	defer c.UnpinAll()
	if !known {
		// No file id the client knows to announce it under: make it
		// durable before the reply.
		n, err := f.Impl.Write(c, f, rw.Data, rw.Offset)
		if err == nil {
			h, _ := vfs.HandleOfFile(f)
			err = k.VFS.Fsync(h, false)
		}
		if err != nil {
			k.Log.Warn("rewrite failed", "seq", rw.Seq, "path", rw.Path, "err", err)
			return err
		}
		r.Ret = int64(n)
		return nil
	}
	k.Dur.Begin(f, rw.Seq)
	n, err := f.Impl.Write(c, f, rw.Data, rw.Offset)
	if k.Dur.End(f, rw.Seq, n) {
		f.DecRef()
	}
	// The client holds the WriteState already.
	k.Dur.MarkSent(f, rw.Seq)
	if err != nil {
		k.Log.Warn("rewrite failed", "seq", rw.Seq, "path", rw.Path, "err", err)
		return err
	}
	r.Ret = int64(n)
	return nil
}

// openForRewrite opens the file a Rewrite names for writing.
func openForRewrite(k *clientState, rw *sentrypb.Rewrite) (*file, error) {
	rc := &syscallCtx{Kernel: k, Intr: make(chan struct{}), GoferSize: -1}
	k.Mu.Lock()
	for _, t := range k.Threads {
		rc.Thread, rc.Dead = t, t.Dead
		break
	}
	k.Mu.Unlock()
	defer rc.UnpinAll()
	f, err := restoreGoferFile(k, rc, &sentrypb.FileState{Kind: sentrypb.FileState_GOFER, Flags: unix.O_WRONLY, FileHandle: rw.FileHandle, Path: rw.Path})
	if err != nil {
		return nil, err
	}
	return f, nil
}
