// Package kernel is the remote sentry's kernel as it leaves the flat
// server package, one piece at a time (docs/ARCHITECTURE.md, "The remote
// sentry's packages", step 3.2): what the kernel needs of the front is
// declared here as interfaces the front implements, so that the
// kernel's types can move below the front without naming it.
//
// What it owns: the interfaces by which the kernel reaches its client's
// front (Sender: the stream, its state records and the client's answers
// to a ProcQuery; Grant: what the peer's identity lets the application
// be), the work a function holding the kernel lock leaves for after
// it (Deferred: pushes to send, cleanups that may block), the kernel's
// leaf objects: a process's working directory and umask (FSContext),
// its signal table as a replay object (SigTable), a planned exec
// (ExecPlan), and the order in which a message's replay records are
// derived (ReplayObject, the Order constants); and the process tree's
// objects: processes (Process: ids, parent and children, threads,
// process group and session ids, fd table, fs context, dispositions,
// credentials, executable and command line, timers, exit and job
// control state), threads (Thread: TID, death, the wait call's pending
// set, ptrace relations), a traced thread's relation (PtraceTracee) and
// a process's signal-raising timer (AppTimer), with their few methods
// (AnyLiveThread, KilledStatusLocked, ReplayOrder); the writable
// /proc/sys numbers the kernel keeps itself (Sysctls, RoundPipeSize);
// a client's sockets' state (Sockets: its AF_UNIX name space, the
// bound endpoints' files, its network stack; a socketpair a Restore
// rebuilds, RestoredPair); what a path call's answer depends on
// besides the namespace (PathView: credentials and start, and the
// walk's notes for a path lease);
// and the replay capture's entry points: the client's Tracker (Changed,
// and the hooks given to the fd tables, descriptions, pipes, locks,
// mapped files, SysV and pty objects), the keys of objects touched by
// number (FDSlot, MappedID, LockedIno, MountID, SysvKey, DeletedKey,
// PtyIndex, PipeRef) and a call's effects committed with its reply
// (CallEffects, PipeIO, OffChange, GoferWrite); what a run of posted
// attribute calls holds back from the gofer (AttrRun, which the front
// starts and ends and each of the run's calls finds in its call); and
// the functions that change the process tree, as methods of Kernel (and
// of Process, Thread): making and ending processes and threads, exit,
// reaping and wait's events (process.go), routing and sending signals,
// the signalfd's claim on them, faults and the Kill call (signals.go),
// group stops and SIGCONT, orphaned groups and the terminal's foreground
// group (jobctl.go), the ptrace relations, stops and wait reports
// (ptrace.go), and the timers that raise signals (timers.go); a
// process's fd table as the kernel makes it and the questions asked of
// every fd (files.go: NewFDTable, LockIno, InodeOpen...), capability
// sets as records carry them (caps.go), and a program's start and exec
// (exec.go: Start's first process, PlanExec and CommitExec over #!
// scripts and ELF images read through the gofer, the mapped files'
// pages, PageRead and PageWrite), pipes' descriptions (pipe.go: PipeEnd,
// NewPipe, the call's pipe I/O records, F_SETPIPE_SZ), the client's
// stdio descriptions (stdio.go: StdioFile, stdin data, a terminal's
// resize) and the terminal's side of job control (tty.go:
// JobControlAccess, SIGTTIN/SIGTTOU); what it asks of the file calls
// above it goes through Files (WriteAt), which the server's kernelPorts
// implements.
//
// It also owns the client's kernel itself, Kernel (the flat package's
// clientState): its fields, which the functions above and the server's
// remaining ones change (f(k, ...): state.go, restore*.go, the
// system calls, ... still in the server package; each field's comment
// says where and under which lock);
// and the call, Task (the flat package's syscallCtx): its fields, set by
// the front's dispatch and the handlers, and its methods, what the
// packages below ask of a call (fdesc.Call, fdesc.OffsetRecorder,
// vfs.Caller, vfs.WalkObserver) with the checks they need (Creds,
// ProcessCreds, Effects, GoferOrigin, Resent), the caller's fd table and
// files (FDTable, GetFile), TID, Cwd, Umask, the release of its pins
// (UnpinAll),
// TaskFromCall, and the permission checks against
// dentries (perm.go: MayAccess, MayWriteDir, MayRemove, MayRename).
// What it does not own, yet: the server's functions, the methods by
// which the packages below reach the kernel (the server's kernelPorts),
// and the replay records themselves (derived by the server's state.go
// from the objects a Tracker collected, and the effects committed); its
// sub-packages fdtable and stdio hold the pieces that moved first.
//
// Dependencies: proto/sentrypb, sentry/sysabi (a call's memory),
// syserr (a blocked call's ERESTARTSYS), and the layers below the kernel
// it names:
// vfs (a working directory, an exec's file), auth, ksignal, ktimer (a
// timer's clock), ptrace (a relation's state and rules), fsimpl/signalfd
// (a signalfd's claim on a signal), replay, pipe and fdesc
// (the objects an effect names), attrrun (a run's merged changes),
// socket and fsimpl/unixsock (a
// client's name space, stack and bound sockets), sentry/statekey, and for
// Kernel's fields the objects it holds (fsimpl/synth, fsimpl/inotify,
// goferclient, readlease, handlebind, mapped, memacct, filelock, sysvipc,
// lease, durable, wberr, pty, wake, the gofer client, hclog), and
// gVisor's unix transport (a bound endpoint, as a key), abi/linux and
// ktime, and its own
// kernel/fdtable (a process's fd table) and kernel/stdio (a stdin
// buffer an effect names). It must not import the server package.
//
// Who imports it: the server package (its kernel and its front).
//
// Lock order: Kernel.Mu is the kernel lock, the first of every
// subsystem's order (the fields say which it protects); SegFileMu is
// never held with it. The rest holds no lock. A Deferred belongs to the goroutine that
// fills it; it is run with the kernel lock (Kernel.Mu) released,
// since a Sender takes the front's send lock, which comes before it. An
// FSContext's fields are protected by the kernel lock, as are a
// Process's, a Thread's (but Sleeping, atomic, and SigWait, its own
// lock), a PtraceTracee's and an AppTimer's (whose ktimer.Timer has its
// own lock, a leaf below the kernel lock; its listener is called with
// no lock held); an ExecPlan belongs to the exec call that made it.
// Sysctls has its own lock, a leaf; Sockets' bound-endpoint lock is a
// leaf, its stack's lock is taken before the Sysctls' (a stack is made
// with the client's ip_forward) and held while the stack is made,
// changed (WithStack) or destroyed; a Tracker's (replay.Tracker's) is a
// leaf too. CallEffects belong to the call collecting them until it
// hands them to the Tracker; an AttrRun to its thread's worker; a Task
// to the goroutine executing it (its Creds, ProcessCreds take the kernel
// lock; Block is called with no lock held).
package kernel
