package kernel

import (
	"golang.org/x/sys/unix"

	"github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/fdesc"
)

// Spawn handles Call.Spawn: a process made from outside the application
// (the OCI runtime's exec), as Linux makes one that entered the PID
// namespace with setns: no parent inside it (its orphans go to init),
// a session of its own, and here its own stdio set. It is reaped when it
// exits, and SpawnExit tells the client its status.
func (k *Kernel) Spawn(seq uint64, sp *sentrypb.Spawn, r *sentrypb.Reply) error {
	if sp.GetStdio() == nil {
		return unix.EINVAL
	}
	st := sp.GetProcess()
	if err := k.checkRootProcess(st, "Spawn"); err != nil {
		return err
	}
	k.Mu.Lock()
	if !k.Started || k.Destroyed || k.Init == nil || k.Init.Exiting {
		k.Mu.Unlock()
		return unix.ESRCH
	}
	set, err := k.StdioSetLocked(sp.Stdio.Id, sp.Stdio.Stdio)
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

	c := &Task{Kernel: k, Thread: t, CallSeq: seq, Intr: make(chan struct{}), Dead: t.Dead, Reply: r, Mem: nil}
	defer c.UnpinAll()
	fail := func(err error) error {
		// As Start's failure: the process never ran, so it vanishes
		// without an exit (the client knows no task of it).
		var d Deferred
		k.Mu.Lock()
		if p.FDs != nil {
			k.DropFDTableLocked(p.FDs, p.PID, &d)
			p.FDs = nil
		}
		p.FS.Refs--
		k.Trk.Changed(p.FS)
		k.Trk.Changed(SigTable{Handlers: p.Sig})
		k.ReapLocked(p)
		k.Mu.Unlock()
		d.Run(k.Out)
		return err
	}
	stdio := func(i int32) *fdesc.File { return k.NewStdioFileOf(i, set.ID, set, set.IsTTY(i), &set.Stdin, &set.TTY) }
	if err := k.ExecFirstImage(c, p, stdio, string(st.Cwd), string(st.Filename), sentrypb.StringList(st.Argv), sentrypb.StringList(st.Env), st.NoNewPrivs, r); err != nil {
		return fail(err)
	}
	return nil
}
