// Package client is the thin client sentry: it runs the application's
// threads on a gVisor platform (systrap, ptrace or kvm) inside this
// process and forwards every system call that touches kernel state to a
// remote sentry over transport.Conn (docs/ARCHITECTURE.md, "Ownership").
//
// It owns the application's CPU state and memory: registers and FPU state
// (arch.Context64), address spaces (pkg/sentry/mm over one pgalloc
// MemoryFile), page faults, the client-side cache of file pages (fetched
// from the server with PageRead on first fault, or brought whole by the
// plan of a small file new to the client, and shared by every process
// through a memmap.Mappable per server file; for MAP_SHARED mappings it is
// the page cache: dirty pages are tracked and written back with PageWrite,
// mappable.go and dirty.go), futexes (futex.go; futex_waitv, futexwaitv.go),
// clocks (clock.go: the TSC calibrated against the host's clocks, which
// the application reads without a trap through its vDSO, vdso.go, and
// the client with the same arithmetic from the same parameters) and the
// threads' CPU time
// (cputime.go: the stub processes' host CPU time, handed to the threads
// in the application), getrandom, signal masks, sigaltstack, signal frames and
// rt_sigreturn, resource limits, and syscall restart after an interrupted
// call. Of the limits it enforces RLIMIT_NPROC and the process cap
// (Config.MaxProcesses) itself, at fork (proclimit.go: each application
// process is a host process); RLIMIT_NOFILE it sends to the server, which
// allocates fds.
//
// It does not own, and must not keep, anything the remote sentry owns: no
// fd table, no paths, no PID allocator, no signal dispositions, no process
// tree. Thread and process IDs, exec plans, exit statuses and signal
// routing all come from the server. It does not construct a kernel.Kernel
// or kernel.Task (the systrap platform imports pkg/sentry/kernel, which is
// only compiled in).
//
// Threads: each application thread is a goroutine running a loop like
// gVisor's task_run: deliver pending signals, Switch into the application,
// then handle the syscall, fault or interrupt that ended the switch. On
// ptrace the goroutine is locked to its OS thread (the tracer); on systrap
// it is not, because the platform's dispatcher yields, and a locked
// goroutine's yield hands its P to another thread (3x slower traps).
//
// Group stops (jobctl.go): the server decides that a process stops or
// continues and says so with a JobControl push; the client interrupts
// the process's threads and parks each before it next runs application
// code, until the process continues or is killed. After a recovery it
// sets each process's stop state from its replay record, in case the
// push was lost with the server.
//
// ptrace (ptrace.go): a tracer's requests on a stopped tracee's
// registers and memory (PEEK*, POKE*, GETREGS, GETREGSET, ...) and
// process_vm_readv/writev are served here from the tracee's arch context
// and mm; the relation and the resumes are the server's. A traced task
// enters each ptrace-stop (syscall enter/exit, signal delivery, events,
// group stop) with a PtraceStop call that returns when the tracer
// resumes it; task.trace (under task.mu) is what the client knows of
// the relation, from PtraceUpdate pushes.
//
// Core dumps (coredump.go, coreelf.go, dontdump.go): a Fault whose
// signal ends the process with a core comes back as a CoreDumpPlan; the
// faulting thread parks the process's other threads (parkWhileDumping),
// writes the ELF core from their registers and the address space through
// forwarded calls of its own (as the process, in its cwd), and sends the
// Fault again with dump_done, which ends the process. MADV_DONTDUMP is
// kept here (process.dontDump): gVisor's mm drops it.
//
// remap_file_pages (remapfilepages.go) is Linux 4.0+'s emulation: a
// MAP_FIXED mapping of the vma's Mappable (from the mappable index) at
// the new offset, with the vma's flags read from mm's smaps.
//
// SysV shared memory (shm.go): shmat's reply names the segment's server
// file, which the client maps shared like any MAP_SHARED file; shmdt
// finds the segment at its address from the VMAs' mapped file (the ids
// of segment files are in client.shm, a leaf lock). The server counts
// each process's mappings of a segment (shm_nattch); the client reports
// the changes it makes (shmdt, and memory calls that remove or split a
// segment's mappings, counted around them while segments exist).
//
// Syscall patching (syscallpatch.go; systrap only): a call trapped from
// an inline "mov $nr,%eax; syscall" site is followed by the rewrite of
// the site into a jump to a trampoline, in a per-address-space [usertrap]
// table, that enters the stub's syscall handler without a seccomp trap.
// A SIGILL at a patched site (a thread racing the rewrite, a restart
// that rewound RIP onto it) resumes at the jump, or runs restart_syscall.
// client.patcher.mu orders the rewrites and those SIGILL checks; it is
// taken with no other client lock held, and mm's locks under it.
//
// Seccomp (seccomp.go): each thread's filters (task.seccomp, an
// immutable seccompState replaced under process.mu) are evaluated
// before its call is handled locally or forwarded; clone copies them,
// exec keeps them, and, being client state, they survive a server
// failure. Config.Seccomp and SpawnRequest.Seccomp give a root process
// its first filter (the OCI runtime's linux.seccomp).
//
// Spawned processes (spawn.go): Config.Spawns adds processes to the
// running application from outside it (the OCI runtime's exec); each
// has a stdio set of its own (client.sets, under client.mu; its
// stdinReader has its own lock, taken after client.mu), and its exit
// comes as a SpawnExit push; a StdioSetClosed push says no file of the
// set is left (children keep the stdio after the process exits), and
// Spawned.Released lets the caller close the streams then.
//
// /proc (procinfo.go): the client answers the server's ProcQuery pushes
// with what only it knows: a process's VMAs, what its threads are doing
// (blocked in a local wait, their names), and this machine's memory and
// CPUs.
//
// Sandbox network (network.go, netlink.go; --network=sandbox): the
// client takes its namespace's interfaces from the host kernel
// (addresses removed, given back at the end) and carries their Ethernet
// frames between AF_PACKET sockets and the session: per interface a
// reader goroutine sending batches up (remoteSession.SendFrames, dropped
// during a recovery) and a writer goroutine fed by a bounded queue that
// the transport's OnFrames fills (netIface.outMu, a leaf, orders it
// with the queue's close). Nothing of it runs without Config.Network.
//
// Ids and pipelined calls (procids.go, pipeline.go, writebehind.go,
// metapipe.go): the client answers getppid, getpgrp, getsid, getpgid and
// the getuid family of a process from its last ProcessState record, and
// posts (remoteSession.Post, Syscall.posted) without waiting for the
// reply a close of an fd its fd table's records name, dup, dup2, dup3
// and F_DUPFD whose new fd the records tell (fdpipe.go), umask (the umask
// of its "fs/" record), exit_group of a process other than the
// application's first (postexit.go: sent at once, the process ended
// here; a wait4 with WNOHANG that finds no child ready is answered 0
// from the process records, childwait.go), rt_sigaction (queries answered and changes
// posted from a copy of the "sig/" records: sigactions.go, client.sigs,
// its own leaf lock), a write to a regular unmapped gofer file (write
// behind; its error surfaces at the description's next fsync, fdatasync,
// write or close, kept by the server; one that continues the task's
// previous write behind while that one is unsent is appended to it,
// writemerge.go), a sendfile or copy_file_range
// from a read-leased file into such a file with the bytes read from the
// lease (sendfile.go: leased copies), a write (or such a sendfile) to a
// pipe's only write description within the room its last reply granted
// (pipebehind.go: client.pipeRooms, a sendRooms with its own lock,
// taken inside readCache.mu by a leased copy and before pipelineState.mu
// by pipeRoomsOpen), a read of a pipe answered
// from the copy of the bytes ahead an earlier read's reply brought
// (pipebehind.go: client.pipeAhead, whose mu task goroutines hold across
// the Post, before remoteSession.mu, and take procIDCache.mu and
// pipelineState.mu inside), and chown, chmod and utimensat of
// a file the caller created in this session (client.pipe and
// client.meta). The remoteSession counts waited and posted calls and
// logs them at the end, with the process's heap allocations. A
// thread's system call is built in one allocation with its in-flight
// record: a waited one with the reply a call channel decodes into
// (sessionCall, remoteSession.CallSyscall), a posted one with its only
// input's region (postedCall, PostCall), a write behind's also with what
// its reply ends, its count in flight and its read-cache posting
// (wbCall, whose postedEnd the reply calls: pending.end, no closure).
// The FileRelease of a file no process maps any more is posted too
// (mappable.go: fileCache.release); a recovery forgets the files nobody
// maps (fileCache.forgetIdle), whose ids died with the server.
// close_range is forwarded and waited for (closerange.go): the records
// of its reply keep the copy of the fd tables exact, and what a close
// drops of an fd besides (marks, an owned copy) it drops for each fd the
// copy has open in the range.
//
// Read cache (readcache.go): the server leases files opened for reading
// (ReadLease in a reply); the client answers read, pread64, readv,
// preadv, fstat and newfstatat(fd, "", AT_EMPTY_PATH) of the
// descriptions attached to a live lease from its copy (and lseek of
// them), posting an lseek for a call that moved the offset, and drops a lease when the server
// revokes it (LeaseRevoke, acknowledged; of its own changes, in their
// replies and not acknowledged), when it expires, and all of
// them when the connection dies. A file the application created for
// writing may be leased owned (ownedfile.go): the client keeps its
// content from its own writes behind and answers reads and lseeks of it
// until any other change or open of the file. client.rcache (nil with
// Config.NoReadCache) has its own lock.
//
// Path cache (pathcache.go): the server leases the answers of stat,
// statx, access and readlink of paths (PathLease in a reply: a lease per
// inode and kind the walk touched); the client gives the same answer to
// the same call of a caller with the same credentials and start (cwd or
// dirfd) while its leases hold, fails a mkdir of a name it knows exists
// with EEXIST, drops an answer when one of its leases is revoked (a
// revocation marks the answers' holds; a marked answer is deleted when
// next looked up, or when a full cache forgets the gone ones), and
// drops every answer on recovery and before forwarding a call whose
// change the server does not revoke per inode (mount). From the
// same answers it fails calls under a path found missing, or of another
// name missing from a directory whose names an answer brought
// (PathLease.missing_in), with ENOENT (missingprefix.go), answers fstat of a description opened by a path
// whose stat it holds (openstat.go; an open's reply carries its file's,
// Reply.opened_stat) and a getdents64 of a description at its listing's
// end (direof.go, Reply.listing_eof). A forwarded lookup in a directory
// it holds no listing of asks for one, kept as a listing by path, whose
// lstat answers also answer readlink (dirlisting.go, Reply.dir_listing).
// A getdents64 by path brings the listings of its subdirectories
// (Reply.ahead), which answer the getdents64 of a description of one not
// listed before, posted with its cursor's end (dirahead.go). A directory
// opened relative to a dirfd (fts) gets a path derived from the dirfd's
// while the answer that proves it holds (dirfdpaths.go). A process
// whose fs record names a root of its own (chroot) gets none of this:
// its calls are not keyed, its opens note no path, and its name changes
// drop every copy of complete names (pathCache.rootedLocked).
// client.pcache (nil with Config.NoReadCache) has its own lock.
//
// Posted opens (postopen.go): a read-only open whose success the path
// cache kept under a lease (the same open's answer) is answered at once
// with the lowest free fd of the caller's table, which the client
// reserves for a provisional description attached to the file's read
// lease, and posted with Syscall.install_fd; its reply names the
// server's description, which replaces the provisional one. One posted
// on a listing's lstat answer attaches to a lease ahead of its inode
// (dataahead.go: the first waited read of such an open asks the leases
// of the files listed after it; readCache.byInode).
// client.opens (postedOpens, a leaf lock) maps descriptions to their
// file's token and tokens to read leases. A close of the fd while the
// open is still unsent and last in the posted queue (or followed only by
// its listing's posted call, dirahead.go, its reads' posted lseeks and an
// F_SETFD of its fd, fdflags.go) takes it back
// (task.unpostOpen, remoteSession.Unpost): no call is sent; the open is
// posted with remoteSession.PostTakeBack, which the queue's timer and
// heartbeats leave queued a few post delays (transport's take-back
// tail). task.unsentOpens keeps the last few such opens, so a
// directory's is taken back after its subdirectories' were. A close of
// the fd whose posted dup is unsent too moves the open to the dup's fd
// instead (dupmove.go: fts's open, dup and close of each directory),
// and a close of a dup's fd while the dup is unsent takes the dup back
// (dropDup: GNU find's dup of each directory's fd). A
// revocation's acknowledgment
// is sent only once the opens posted on the answers it drops are on the
// stream (postedOpens.revoking): the server then runs them before the
// change that revoked them.
//
// Posted creations (postcreate.go): an unlink's ENOENT is kept under
// its path lease (the same unlink is answered here) as the absence of
// the name, with whether the caller may create it; an open with O_CREAT
// of such a name is answered with the lowest free fd and posted as a
// read-only open is, its provisional description written behind under a
// handle of its own until the reply names the file's
// (readCache.aliases). Until the reply, pathCache.dirsChanging holds
// back the answers leasing the directory's attributes or missing names
// (pathHold.dirs: the directories an answer's leases are on).
//
// Posted mkdir (postmkdir.go): a mkdir of a name whose absence is held
// as for a posted creation is answered 0 and posted; its reply brings
// the new directory's complete names (below) and its parent's stat,
// which a mkdir of the same path and a creation in the new directory
// wait for (pathCache.renewing) rather than ask the server. The posted
// chown, chmod and utimensat of a directory a mkdir made are counted by
// the inode the mkdir's reply names (dirattrs.go: pathCache.inosChanging),
// holding back only the answers with a lease on it.
//
// Complete names (completenames.go): a mkdir's reply may lease the
// complete names of the directory it made; the client keeps a copy
// (pathCache.copies, under pathCache.mu), applies its own calls spelled
// dir/name to it, drops it on any other that may change the directory's
// names or mode, and answers an unlink of a name not in it with ENOENT,
// kept as a creatable absence for a posted creation, and a mkdir of the
// directory's own path with EEXIST.
//
// Recovery (recovery.go, docs/ARCHITECTURE.md): every call goes through a
// remoteSession, which assigns seqs, folds each reply's state records into
// the compacted replay log (package replaylog) before the caller sees the
// reply, and on a server's death blocks new calls, reconnects (the same
// server within the grace period, else the next), sends Restore, the
// Rewrites of writes not yet durable and the calls that were in flight
// with their original seqs, then lets calls go out again. With
// Config.Channels, a thread's system call takes a call channel of the
// current connection when one is free (remoteSession.channelFor,
// transport/hop.go) instead of the socket: it is in flight like any
// other, stamped under remoteSession.mu in seq order (StampChannel: it
// carries the posted calls still queued), its reply is folded by the
// transport in order with the socket's messages, and if the connection
// dies the recovery re-sends it, and the posted calls it carried, on the
// new connection's socket.
//
// Lock order: remoteSession.mu > remoteSession.imu (a leaf, also taken
// from the transport's receiving goroutine); replaylog.Log.mu is taken
// alone. cpuPlacer.mu (cpuplace.go) > client.mu > process.mu > task.mu
// (each taken alone in practice; the placer takes client.mu, then each
// task.mu, to count the threads that may run, and mm's locks for an
// address space's stubs); fileCache.mu > serverFile.mu. serverFile.mu is held across a
// PageRead round trip, inside mm's locks (Translate), never with task.mu.
// For a file: serverFile.wbMu > serverFile.mapsMu (mm calls AddMapping and
// RemoveMapping holding its mappingMu) > mm's activeMu (taken by
// MappingSet.Invalidate; Translate is called holding it) > serverFile.mu >
// fileCache.dirtyMu (a leaf). mappableIndex.mu (mapindex.go) is taken
// inside mm's mappingMu (the Mappables' AddMapping and RemoveMapping)
// and by madvise and mincore, and is a leaf but for remap_file_pages
// (remapfilepages.go), which takes a mapped file's reference under it
// (fileCache.mu: heldAt) with no mm lock held. mincore (mincore.go) takes
// mm's locks (DebugString) holding none of the client's, then, with
// mm's dropped, mappableIndex.mu, then one serverFile.mu or anonShared.mu
// at a time. A write-back holds wbMu across its PageWrite
// round trips, never serverFile.mu. A plan of a file at a new gen
// (fileCache.get → serverFile.refresh) takes wbMu, mapsMu, then mu for
// its PageReads, after fc.mu is dropped and before mm.MMap: no mm lock. procIDCache.mu (procids.go) is a
// leaf, taken by the receiving goroutine and by id calls, as is
// pipelineState.mu (writebehind.go). process.callOrder (threadorder.go) is
// taken before procIDCache.mu, pipelineState.mu, readCache.mu and
// remoteSession.mu: it is held while an answer is checked and posted. readCache.mu (readcache.go) is taken
// before pipelineState.mu (a description's offset is read under both)
// and is otherwise a leaf (the receiving goroutine takes it for
// revocations, a posted call's reply for its done). pathCache.mu
// (pathcache.go) is a leaf (taken after procIDCache.mu and readCache.mu
// were released; it guards postcreate.go's dirsChanging and dirattrs.go's
// madeDir too), as is
// postedOpens.mu (postopen.go); postedOpens.revoking is held for reading
// by a posting task across its Post (before remoteSession.mu) and taken
// for writing, alone, by an acknowledgment's goroutine. metaPipeline.mu
// (metapipe.go) is
// taken only by task goroutines and held across a Post: it comes before
// remoteSession.mu. futexWaiters.mu is taken before the
// futex manager's bucket locks and the key lookups under them (mm's locks,
// a shared file mapping's Translate). Leaves: anonShared.mu (a shared
// anonymous mapping's pages, taken in Translate under mm's locks),
// appClocks.mu (clock.go: the calibration's updates and the parameter
// pages' writes; pgalloc's locks under it), hostTerminals.mu (ttymodes.go), platMu (the process-wide platforms),
// sigActions.mu (sigactions.go) and stubCPU.mu (cputime.go; taken under
// process.mu).
//
// Dependencies: platform/, transport/, sentry/sysabi, sentry/statekey,
// sentry/client/replaylog, proto/sentrypb and gVisor's
// pkg/sentry/{mm,pgalloc,memmap,arch,limits,kernel/futex,kernel/auth,
// time,loader/vdsodata} and
// pkg/bpf. It must not import sentry/server, gofer/ or the command.
package client
