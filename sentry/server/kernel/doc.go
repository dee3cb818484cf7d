// Package kernel is the remote sentry's kernel of one client, as gVisor's
// pkg/sentry/kernel, below the server package (the front and the system
// calls) and above the vfs, the file kinds and the subsystem objects.
//
// What it owns:
//   - Kernel, the client's kernel: its fields
//     say which lock protects them and who changes them; Mu is the
//     kernel lock. Task, the call, with what
//     the packages below ask of a call (fdesc.Call, fdesc.OffsetRecorder,
//     vfs.Caller, vfs.WalkObserver, vfs.RootedCaller: FSRoot, the root
//     chroot gave its fs context, vfs.NamespacedCaller: MountNS, its
//     mount namespace; mountns.go makes and reaps namespaces) and its
//     checks (Creds, ProcessCreds,
//     Effects, GoferOrigin, Resent; perm.go: MayAccess, MayWriteDir,
//     MayRemove, MayRename); TaskFromCall.
//   - The process tree (Process, Thread, PtraceTracee, AppTimer) and its
//     functions as methods of Kernel: processes, threads, exit, reaping,
//     wait (process.go); what unshare(2) gives a task of its own and
//     the checks it needs of the tree (unshare.go); signals, the signalfd's claim and a file's
//     readiness for a thread's wait, which a signalfd's depends on
//     (signals.go: ReadinessFor; Fault, which holds a death with a core
//     back for the client's dump: CoreDumpPlan); a signalfd's reads, which the client
//     answers, and the pending sets of waits (signalfd.go:
//     SignalfdClient, SignalsPending); group stops, SIGCONT, orphaned
//     groups (jobctl.go) and the terminal's SIGTTIN/SIGTTOU (tty.go:
//     JobControlAccess); ptrace
//     (ptrace.go); the timers that raise signals (timers.go).
//   - A Start, a Spawn (spawn.go: a process the OCI runtime's exec adds
//     from outside, with a stdio set of its own) and exec (exec.go:
//     Start, PlanExec and CommitExec over #!
//     scripts and ELF images read through the gofer, ExecPlan; the
//     mapped files' pages, PageRead, PageWrite); fd tables as the kernel
//     makes and scans them (files.go); capability records (caps.go); pipe
//     ends (pipe.go: PipeEnd, NewPipe, a call's pipe I/O, F_SETPIPE_SZ)
//     and a FIFO's open, whose wait for its partner ends a pipe of the
//     client's FIFO table (fifo.go: OpenFifo); the open of a node of
//     Hello.devices, as the sentry's own device of its numbers
//     (devnodes.go: OpenDevNode);
//     RLIMIT_FSIZE on a write or truncate (rlimit.go: FileSizeCheck);
//     the durability of writes (durable.go: Flusher, FlushAll,
//     AnnounceDurable, a resize's SyncBeforeResize and a truncation's
//     TruncatedToZero);
//     a description's owner, its I/O signals (the O_ASYNC watcher) and
//     its lease's breaks, with their records (async.go: SetAsync,
//     BreakLeases, LeaseIno, OpenCounts, OwnerExistsLocked);
//     the client's stdio descriptions (stdio.go: StdioFile, stdin data,
//     a terminal's resize); the inotify events of the server's file
//     operations, an instance's record and its rebuild (inotify.go:
//     InotifyEvent, InotifyChild, InotifyRemoved, InotifyRenamed,
//     InotifyClosed, InotifyState, RestoreInotify); pseudo-terminals'
//     ends (pty.go: OpenPty, NewPtyFile, RestorePtyFile, and as every
//     end's devpts.Kernel the signals of a terminal, SignalGroup); what
//     the synthesized /dev and /proc read of the kernel (synth.go:
//     SynthKernel, the synth.Kernel of its processes, threads and fds;
//     ProcFDFile, /proc/<pid>/fd/<n>'s file) and the procfs.Source they
//     render from (procsource.go: what only the client knows asked with
//     Sender's Ask); a write's kernel side, whatever call makes it
//     (write.go: WriteAt, its durability tracking and WriteState
//     record; KillPriv, the set-id bits it clears; NoteMappedChange and
//     NoteMappedResize, the client's mapped pages it changes); the
//     changes a run of posted attribute calls holds, as its handlers
//     see it (attrrun.go: HoldAttrs, FlushAttrRun, FlushHeldAttrs; the
//     run's wait and replies are the front's).
//   - Its leaf objects: FSContext, SigTable, Sysctls, Sockets (with,
//     sockets.go, a socket's charge to the memory cap, ChargeSocket, and
//     as every AF_UNIX socket's unixsock.Namespace a name's release,
//     Unbound), RestoredPair, PathView, AttrRun, Deferred (pushes and cleanups
//     left for after the kernel lock); the /proc/sys numbers a Hello
//     sets (sysctl.go: ApplySysctls, ErrSysctl), their replay record,
//     SysctlValues, and its restore, and ip_forward's change
//     of the network stack (SetIPForward); the client's network
//     (network.go: the network a Hello brings, checked,
//     SandboxNetworkOf, ErrNetwork; NetStack, made at first use, whose sandbox frames go
//     to the client and come from it, InboundFrames, and which drains
//     at the end, LingerNetwork, DebugNetwork; Interfaces and DevStats, the netstack's or with
//     HostNet the server machine's; NetlinkRouter, a netlink socket's
//     netlink.Router for its protocol: route, or sock_diag (package
//     sockdiag over the sockets /proc/net lists, procsockets.go, which
//     also counts them and the netstack's endpoints for /proc/net/sockstat,
//     NetStats, or reads the machine's /proc/net files, HostNetFile)).
//   - The replay capture's entry points: Tracker (Changed and the
//     subsystems' hooks), the keys of objects touched by number (FDSlot,
//     MappedID, ...), a call's effects committed with its reply
//     (CallEffects), and the records' derivation order (ReplayObject,
//     the Order constants), and the records' derivation from what the
//     Tracker collected and the effects committed (state.go:
//     RecordsSince, EffectRecords, FileID), with the kernel objects'
//     and sockets' parts (kobjstate.go: an eventfd's, timerfd's,
//     signalfd's, epoll instance's, socket's FileState.kobj).
//   - Restore, the inverse: a client's kernel rebuilt from a Restore's
//     records after a server restart (restore.go: the processes,
//     threads, fd tables, stdio sets, locks and mounts;
//     restore_files.go: the open file descriptions it owns, gofer files,
//     pipe and FIFO ends, stdio, mapped files, then the links between
//     descriptions: epoll interests, socketpairs' queued data; the
//     kernel objects and sockets in kobjstate.go: a socket's name,
//     listening state and backlog come back, a connection comes back
//     reset), asking the server's glue only for synthesized files
//     (Files: RestoreSyntheticFile); Rewrite, a retained write applied
//     again, which puts the file's mtime back (keepMtime).
//   - The kernel as the packages below reach it, its own methods: the
//     vfs.Kernel (vfskernel.go: the synthesized files it forwards to
//     Synth, a process's owner, a write's set-id rule) with every
//     description's fdesc.Owner (its locks, lease and durability; its
//     inotify close event is inotify.go's), devpts.Kernel (pty.go),
//     netlink.Router (network.go), unixsock.Namespace (sockets.go).
//   - The interfaces by which it reaches what is above it, implemented by
//     the server: Sender (the client's stream), Grant (what the peer may
//     run as) and Files (the file calls above it: RestoreSyntheticFile;
//     the client caches' lease revocations a call makes:
//     RevokeLeasesForWatch, OwnedFileOpened), which package syscalls'
//     handlers reach too.
//
// Dependencies: proto/sentrypb, sentry/sysabi (a call's memory),
// syserr (a blocked call's ERESTARTSYS), and the layers below the kernel
// it names:
// vfs (a working directory, an exec's file), procfs (the Source /proc is
// rendered from), mount (a Start's and a
// Restore's mounts), filelock (a Restore's locks), fsimpl/epoll (a
// restored instance's interests), fsimpl/eventfd, fsimpl/timerfd,
// fsimpl/inet, fsimpl/netlink and kobj (the kernel objects' and
// sockets' records and rebuilds), auth, ksignal, ktimer (a
// timer's clock), ptrace (a relation's state and rules), fsimpl/devpts (a
// pseudo-terminal's end), fsimpl/signalfd
// (a signalfd's claim on a signal), replay, pipe and fdesc
// (the objects an effect names), attrrun (a run's merged changes),
// socket and fsimpl/unixsock (a
// client's name space, stack and bound sockets), donated (a mapped
// file's fd PageRead lends), sentry/statekey, and for
// Kernel's fields the objects it holds (fsimpl/synth, fsimpl/inotify,
// goferclient, readlease, handlebind, mapped, memacct, filelock, sysvipc,
// lease, durable, wberr, pty, wake, the gofer client, hclog), and
// gVisor's unix transport (a bound endpoint, as a key; a restored
// socketpair's queued data) and usermem, abi/linux and
// ktime, and its own
// kernel/fdtable (a process's fd table) and kernel/stdio (a stdin
// buffer an effect names). It must not import the server package.
//
// Who imports it: the server package (its kernel and its front) and
// package syscalls (the handlers, each a function of a *Task).
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
// no lock held); an ExecPlan belongs to the exec call that made it. A
// Pipe's lock and a stdio set's stdin lock are taken inside the kernel
// lock, never around it.
// Sysctls has its own lock, a leaf; Sockets' bound-endpoint lock is a
// leaf, its stack's lock is taken before the Sysctls' (a stack is made
// with the client's ip_forward) and held while the stack is made,
// changed (WithStack) or destroyed; a Tracker's (replay.Tracker's) is a
// leaf too. CallEffects belong to the call collecting them until it
// hands them to the Tracker; an AttrRun to its thread's worker; a Task
// to the goroutine executing it (its Creds, ProcessCreds take the kernel
// lock; Block is called with no lock held), and after it to its thread's
// worker, which reuses it for the thread's next call only when nothing
// points at it any more (a posted write's reply packed: the front's
// threadCalls.spareTask).
package kernel
