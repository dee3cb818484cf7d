package server

import (
	"golang.org/x/sys/unix"

	"github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/kernel"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/ksignal"
)

// maxThreads bounds live threads per client (TIDs: kernel.MaxTID).
const maxThreads = 4096

// fsContext is a process's cwd and umask (package kernel's FSContext).
type fsContext = kernel.FSContext

// The kernel's processes and threads are package kernel's (Process,
// Thread): their fields are protected by clientState.Mu.
type (
	process = kernel.Process
	thread  = kernel.Thread
)

// allocTIDLocked returns a free TID: requested if it is free and nonzero
// (replay rebuilds the same ids), else the next free one.
func allocTIDLocked(k *clientState, requested int32) (int32, error) {
	if len(k.Threads) >= maxThreads {
		return 0, unix.EAGAIN
	}
	inUse := func(id int32) bool {
		if _, ok := k.Threads[id]; ok {
			return true
		}
		_, ok := k.Procs[id]
		return ok
	}
	if requested > 0 {
		if requested >= kernel.MaxTID || inUse(requested) {
			return 0, unix.EEXIST
		}
		if requested > k.LastTID {
			k.LastTID = requested
			k.Trk.IDsChanged()
		}
		return requested, nil
	}
	for i := 0; i < kernel.MaxTID; i++ {
		k.LastTID++
		if k.LastTID >= kernel.MaxTID {
			k.LastTID = 2
		}
		if !inUse(k.LastTID) {
			k.Trk.IDsChanged()
			return k.LastTID, nil
		}
	}
	return 0, unix.EAGAIN
}

// newThreadLocked makes a thread of p with TID tid.
func newThreadLocked(k *clientState, p *process, tid int32) *thread {
	t := &thread{TID: tid, Proc: p, Dead: make(chan struct{})}
	p.Live[t] = struct{}{}
	p.All[t] = struct{}{}
	k.Threads[tid] = t
	k.Trk.Changed(t)
	return t
}

// newProcessLocked makes a process with PID requestedPID (or the next
// free one) and its leader thread. The caller fills in the rest.
func newProcessLocked(k *clientState, requestedPID int32, parent *process) (*process, error) {
	pid, err := allocTIDLocked(k, requestedPID)
	if err != nil {
		return nil, err
	}
	p := &process{
		PID:        pid,
		Parent:     parent,
		Children:   make(map[*process]struct{}),
		Live:       make(map[*thread]struct{}),
		All:        make(map[*thread]struct{}),
		ExitSignal: int(unix.SIGCHLD),
	}
	if parent != nil {
		parent.Children[p] = struct{}{}
	}
	k.Procs[pid] = p
	k.Trk.Changed(p)
	newThreadLocked(k, p, pid)
	return p, nil
}

// exitWaitStatus is the wait status of exit(code).
func exitWaitStatus(code int) int32 { return int32(code&0xff) << 8 }

// killThreadLocked ends t because of something other than its own exit
// call. A call in flight is woken and replied with an exit action; an idle
// thread gets a TaskExit push.
func killThreadLocked(k *clientState, t *thread, status int32, d *deferred) {
	if t.Killed {
		return
	}
	t.Killed = true
	t.ExitStatus = status
	close(t.Dead)
	delete(t.Proc.Live, t)
	k.Trk.Changed(t)
	ptraceThreadGoneLocked(k, t, d)
	if t.TID != t.Proc.PID {
		ptraceTraceeGoneLocked(k, t, status, d)
	}
	if !t.InFlight {
		te := &sentrypb.TaskExit{Tid: t.TID, WaitStatus: status}
		if k.AppExited {
			te.WaitStatus, te.AppExit = k.AppStatus, true
		}
		d.Push(&sentrypb.Push{Msg: &sentrypb.Push_TaskExit{TaskExit: te}})
	}
}

// exitProcessLocked makes p exit with wait status status: its threads are
// ended, its fds closed, its children reparented to init, and it becomes a
// zombie for its parent (or is reaped at once if the parent ignores its
// exit signal). If p is init, the whole application ends.
func exitProcessLocked(k *clientState, p *process, status int32, d *deferred) {
	if p.Exiting {
		return
	}
	p.Exiting = true
	p.ExitStatus = status
	k.Trk.Changed(p)
	k.DeleteTimersLocked(p, true)
	// SEM_UNDO adjustments and shared memory attachments end with it.
	if gone := k.IPC.ProcessExited(p.PID); len(gone) > 0 {
		d.Do(func() { removeSegmentFiles(k, gone) })
	}
	if p == k.Init {
		k.AppExited = true
		k.AppStatus = status
	}
	for t := range p.Live {
		killThreadLocked(k, t, status, d)
	}
	ptraceProcessExitLocked(k, p, d)
	if p.FDs != nil {
		dropFDTableLocked(k, p.FDs, d)
		p.FDs = nil
	}
	if p.FS != nil {
		p.FS.Refs--
		k.Trk.Changed(p.FS)
	}
	k.Trk.Changed(sigTable{Handlers: p.Sig})
	if p == k.Init {
		// The application is over: end every other process.
		for _, q := range k.Procs {
			if q != p && !q.Exiting {
				exitProcessLocked(k, q, status, d)
			}
		}
		p.Zombie = true
		k.Waitq.Notify()
		return
	}
	// Groups p kept from being orphaned (jobctl.go).
	orphanable := orphanableByExitLocked(k, p)
	// Reparent children to init.
	for c := range p.Children {
		delete(p.Children, c)
		k.Trk.Changed(c)
		if k.Init != nil && !k.Init.Exiting {
			c.Parent = k.Init
			k.Init.Children[c] = struct{}{}
			if c.Zombie {
				notifyParentLocked(k, c, d)
			}
		} else {
			c.Parent = nil
			if c.Zombie {
				reapLocked(k, c)
			}
		}
	}
	hangUpOrphanedLocked(k, orphanable, d)
	p.Zombie = true
	if p.Spawned {
		d.Push(spawnExitPush(p))
	}
	notifyParentLocked(k, p, d)
	k.Waitq.Notify()
}

// notifyParentLocked signals zombie p's parent, or reaps p if the parent
// does not wait for it (SIGCHLD ignored or SA_NOCLDWAIT).
func notifyParentLocked(k *clientState, p *process, d *deferred) {
	par := p.Parent
	if par == nil || par.Exiting {
		if par == nil {
			reapLocked(k, p)
		}
		return
	}
	if p.ExitSignal == int(unix.SIGCHLD) {
		act := par.Sig.Act[unix.SIGCHLD]
		if act.Handler == ksignal.SigIgn || act.Flags&ksignal.SANoCldWait != 0 {
			reapLocked(k, p)
			return
		}
	}
	if p.ExitSignal > 0 && p.ExitSignal <= ksignal.NumSignals {
		code, st := ksignal.ChildStatus(p.ExitStatus)
		info := ksignal.SiginfoChld(p.ExitSignal, code, p.PID, p.Creds.RUID, st)
		signalProcessLocked(k, par, nil, p.ExitSignal, info, d)
	}
}

// reapLocked frees zombie p.
func reapLocked(k *clientState, p *process) {
	for _, o := range unlinkReapedLocked(k, p) {
		k.Trk.Changed(o)
	}
}

// unlinkReapedLocked removes reaped process p and its threads from the
// tables and returns the objects whose records that deleted (p and its
// threads), for the caller to touch now (reapLocked) or as a wait's
// reply is built (commitEffectsLocked, for reapWaitedLocked).
func unlinkReapedLocked(k *clientState, p *process) []replayObject {
	objs := []replayObject{p}
	if p.Parent != nil {
		delete(p.Parent.Children, p)
		p.Parent = nil
	}
	for t := range p.All {
		if k.Threads[t.TID] == t {
			delete(k.Threads, t.TID)
		}
		objs = append(objs, t)
	}
	p.All = map[*thread]struct{}{}
	if k.Procs[p.PID] == p {
		delete(k.Procs, p.PID)
	}
	return objs
}

// goneThreadExitLocked answers an exit or exit_group (nil for any other
// call) of a thread this server does not know: one whose exit a dead
// server ran, and whose process a wait reaped there, before the exit's
// reply reached the client, which re-sent it. An exit cannot fail: the
// thread ends as it asked (ESRCH left it spinning in libc's exit loop on
// the client). Precondition: k.Mu.
func goneThreadExitLocked(k *clientState, call *sentrypb.Call) *sentrypb.ExitAction {
	sc := call.GetSyscall()
	if sc == nil || (sc.Sysno != unix.SYS_EXIT && sc.Sysno != unix.SYS_EXIT_GROUP) {
		return nil
	}
	var code int
	if len(sc.Args) > 0 {
		code = int(sc.Args[0])
	}
	ea := &sentrypb.ExitAction{Group: sc.Sysno == unix.SYS_EXIT_GROUP, WaitStatus: exitWaitStatus(code)}
	if k.AppExited {
		ea.WaitStatus, ea.AppExit = k.AppStatus, true
	}
	return ea
}

// exitThreadLocked ends t by its own exit(2). If it was the process's
// last thread the process exits with status code.
func exitThreadLocked(k *clientState, t *thread, code int, d *deferred) *sentrypb.ExitAction {
	p := t.Proc
	delete(p.Live, t)
	t.Killed = true
	t.ExitStatus = exitWaitStatus(code)
	close(t.Dead)
	k.Trk.Changed(t)
	ptraceThreadGoneLocked(k, t, d)
	if t.TID != p.PID {
		ptraceTraceeGoneLocked(k, t, t.ExitStatus, d)
		delete(p.All, t)
		delete(k.Threads, t.TID)
	}
	if len(p.Live) == 0 {
		exitProcessLocked(k, p, exitWaitStatus(code), d)
	}
	ea := &sentrypb.ExitAction{Group: false, WaitStatus: exitWaitStatus(code)}
	if k.AppExited {
		ea.WaitStatus, ea.AppExit = k.AppStatus, true
	}
	return ea
}

// processGroupLocked returns the live (non-zombie) processes in pgid.
func processGroupLocked(k *clientState, pgid int32) []*process {
	var out []*process
	for _, p := range k.Procs {
		if p.PGID == pgid && !p.Exiting {
			out = append(out, p)
		}
	}
	return out
}
