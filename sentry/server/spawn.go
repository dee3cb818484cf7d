package server

import (
	"fmt"

	"golang.org/x/sys/unix"

	"github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/auth"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/kernel"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/kernel/stdio"
)

// maxStdioSets bounds the stdio sets of one client (one per spawned
// process, kept while the client lives).
const maxStdioSets = 4096

// stdioSetLocked returns set id, making it from infos if it does not
// exist yet.
//
// Preconditions: k.Mu is locked.
func stdioSetLocked(k *clientState, id uint32, infos []*sentrypb.StdioInfo) (*stdio.Set, error) {
	if id == 0 {
		return nil, fmt.Errorf("stdio set 0 is the client's own: %w", unix.EINVAL)
	}
	if s := k.StdioSets[id]; s != nil {
		return s, nil
	}
	if len(k.StdioSets) >= maxStdioSets {
		return nil, fmt.Errorf("%d stdio sets: %w", len(k.StdioSets), unix.EAGAIN)
	}
	s := &stdio.Set{ID: id}
	for _, si := range infos {
		if si != nil && si.Fd >= 0 && si.Fd < 3 {
			s.Info[si.Fd] = si
		}
	}
	s.TTY.Init(s.Info)
	if k.StdioSets == nil {
		k.StdioSets = make(map[uint32]*stdio.Set)
	}
	k.StdioSets[id] = s
	return s, nil
}

// spawn handles Call.Spawn: a process made from outside the application
// (the OCI runtime's exec), as Linux makes one that entered the PID
// namespace with setns: no parent inside it (its orphans go to init),
// a session of its own, and here its own stdio set. It is reaped when it
// exits, and SpawnExit tells the client its status.
func spawn(k *clientState, seq uint64, sp *sentrypb.Spawn, r *sentrypb.Reply) error {
	st := sp.GetProcess()
	if st == nil || len(st.Argv) == 0 && st.Filename == "" || sp.GetStdio() == nil {
		return unix.EINVAL
	}
	if len(st.Groups) > auth.MaxGroups {
		return unix.EINVAL
	}
	if err := k.Grant.MayRunAs([]uint32{st.Uid}, append([]uint32{st.Gid}, st.Groups...)); err != nil {
		k.Log.Warn("refused Spawn", "err", err)
		return err
	}
	k.Mu.Lock()
	if !k.Started || k.Destroyed || k.Init == nil || k.Init.Exiting {
		k.Mu.Unlock()
		return unix.ESRCH
	}
	set, err := stdioSetLocked(k, sp.Stdio.Id, sp.Stdio.Stdio)
	if err != nil {
		k.Mu.Unlock()
		return err
	}
	p, err := k.NewProcessLocked(0, nil)
	if err != nil {
		k.Mu.Unlock()
		return err
	}
	p.Spawned = true
	p.PGID, p.SID = p.PID, p.PID
	if set.TTY.Present {
		set.TTY.FgPgrp, set.TTY.Sid = p.PID, p.PID
	}
	k.SetUpRootProcessLocked(p, st, "exec")
	t := k.Threads[p.PID]
	k.Mu.Unlock()

	c := &syscallCtx{Kernel: k, Thread: t, CallSeq: seq, Intr: make(chan struct{}), Dead: t.Dead, Reply: r, Mem: nil}
	defer c.UnpinAll()
	fail := func(err error) error {
		// As Start's failure: the process never ran, so it vanishes
		// without an exit (the client knows no task of it).
		var d deferred
		k.Mu.Lock()
		if p.FDs != nil {
			k.DropFDTableLocked(p.FDs, &d)
			p.FDs = nil
		}
		p.FS.Refs--
		k.Trk.Changed(p.FS)
		k.Trk.Changed(kernel.SigTable{Handlers: p.Sig})
		k.ReapLocked(p)
		k.Mu.Unlock()
		d.Run(k.Out)
		return err
	}
	stdio := func(i int32) *file { return k.NewStdioFileOf(i, set.ID, set, set.IsTTY(i), &set.Stdin, &set.TTY) }
	if err := k.ExecFirstImage(c, p, stdio, st.Cwd, st.Filename, st.Argv, st.Env, st.NoNewPrivs, r); err != nil {
		return fail(err)
	}
	return nil
}

// restoreStdioSetsLocked rebuilds the stdio sets of a Restore, before
// the files that use them.
//
// Preconditions: k.Mu is locked.
func restoreStdioSetsLocked(k *clientState, sets []*sentrypb.StdioSet, reads map[uint32]*sentrypb.StdinState) error {
	for _, ss := range sets {
		if ss == nil {
			return fmt.Errorf("nil stdio set: %w", unix.EINVAL)
		}
		if len(ss.StdinUnread) > stdio.MaxUnread {
			return fmt.Errorf("stdio set %d: %d bytes of unread stdin (at most %d): %w", ss.Id, len(ss.StdinUnread), stdio.MaxUnread, unix.EINVAL)
		}
		s, err := stdioSetLocked(k, ss.Id, ss.Stdio)
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
func restoreSpawnedTTYsLocked(k *clientState, recs []*sentrypb.ProcessState) {
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
		if s, ok := f.Impl.(*kernel.StdioFile); ok && s.Set != 0 && s.Term.Present && s.Term.Sid == 0 {
			s.Term.Sid, s.Term.FgPgrp = p.SID, k.RestoredForegroundLocked(byPID[p.PID], p.PGID)
		}
		f.DecRef()
	}
}
