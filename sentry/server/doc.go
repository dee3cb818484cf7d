// Package server is the remote sentry: it holds the authoritative kernel
// state of every connected client's application and executes the system
// calls the thin client sentry forwards (docs/ARCHITECTURE.md).
//
// # What it owns
//
// Per client (a kernel.Kernel, one per Session; kept apart from the stream so
// that a later reconnection can reattach to it):
//
//   - a PID namespace: processes, threads, the process tree, process
//     groups and sessions, zombies and wait, credentials with their
//     capability sets (package kernel's process.go; package syscalls'
//     process.go, identity.go and capability.go; the
//     credentials and their rules are package auth);
//   - signal dispositions and routing: kill/tkill (with Linux's
//     permission check), the Kill call from outside (the OCI runtime,
//     do; to the terminal's foreground group for its keys), SIGCHLD,
//     SIGPIPE, default actions (package kernel's signals.go; the calls
//     in package syscalls' signal.go; the dispositions, default
//     actions and siginfo layouts are package ksignal). Masks, frames
//     and delivery stay on the client, which gets SignalPush;
//   - ptrace (package kernel's ptrace.go and the call in package
//     syscalls' ptrace.go, over
//     package ptrace, which holds a tracee's
//     relation and stop state and the rules): who traces whom
//     (Thread.Ptrace, Thread.Tracees, under kernel.Kernel.Mu), the
//     permission check, each tracee's
//     ptrace-stop as its tracer's wait sees it (a PtraceStop call that
//     blocks until the tracer resumes it), the relation's end when
//     either side exits, and the thread records that carry it across a
//     recovery; the tracee's registers and memory are the client's;
//   - job control (package kernel's jobctl.go; the terminal's side in
//     kernel/tty.go): the decision that a process stops or
//     continues (Process.Stopped, reported in its record and to the
//     client with a JobControl push, which parks its threads), the stop
//     and continue events wait reports, orphaned process groups, and the
//     terminal's SIGTTIN/SIGTTOU for background reads and writes;
//   - timers that raise signals: each process's ITIMER_REAL and POSIX
//     timers (package kernel's timers.go; their calls in package
//     syscalls' timers.go), on
//     ktimer's clocks shifted to the client's
//     (Hello.clocks);
//   - fd tables (package kernel/fdtable; which process uses which, and
//     their replay records, kernel/files.go and kernel/state.go) and open
//     file descriptions with their offsets and status flags (package
//     fdesc), pipes and the pipes of open FIFOs
//     (package pipe; their descriptions and records in kernel/pipe.go,
//     a FIFO's open in kernel/fifo.go), each pipe reserving its capacity from the
//     client's memory account (package memacct: Config.MaxClientMemory,
//     ENOMEM beyond it; atomic, no lock), as do sockets (their receive
//     buffers, ENOBUFS), queued SysV messages (sysvipc, ENOMEM) and
//     PageWrite data while it is written (at most kernel.MaxPageWritesInFlight
//     at once, never refused), the client's stdio (kernel/stdio.go; the stdin
//     buffer and the terminal's state are package kernel/stdio's) and
//     the stdio sets of spawned processes: processes the OCI runtime's
//     exec adds from outside (Spawn, package kernel's spawn.go; a set's stdio.Stdin.mu
//     nests inside kernel.Kernel.Mu as set 0's does; a set counts its open files,
//     atomically, and StdioSetClosed tells the client when none is left);
//   - a mount namespace (package vfs, kernel.Kernel.VFS): the dentry cache
//     over the gofer and the walk, the handle pins (a system call's are
//     released with it, kernel.Task), negative dentries, /dev/shm (which
//     also holds the unlinked files of memfd_create: package syscalls'
//     memfd.go has the call and fcntl's seals, vfs.Memfd a memfd's name
//     and seals), the grafted tmpfs and bind mounts of mount(2) (package syscalls: mount.go; a Start's
//     mounts in kernel/exec.go, a Restore's in kernel/restore.go), reported as mount/<id> records, and
//     the gofer file kinds (vfs.GoferFile, GoferDir, LostFile, DevFile,
//     PathFile); /dev and /proc are synthesized from the kernel's state
//     by package fsimpl/synth (kernel.Kernel.Synth: the lookups, listings,
//     links and stats the vfs asks of its vfs.Kernel, which the kernel
//     forwards there (kernel/vfskernel.go), and synth.ProcFile, whose files package
//     procfs renders from the kernel's procfs.Source (kernel/procsource.go),
//     what only the client knows asked for with a ProcQuery push, the
//     stream's Ask, procquery.go); what it reads of the kernel is
//     synth.Kernel, the kernel's own (kernel/synth.go);
//   - the attribute cache, shared by the server's clients
//     (goferclient.AttrCache, a goferpb.GoferClient wrapping Config.Gofer;
//     its coherence rule is in docs/ARCHITECTURE.md, "The server's file
//     caches");
//   - advisory locks: POSIX record locks owned by fd tables, OFD and
//     flock locks owned by open file descriptions, blocking waits and
//     deadlock detection (package filelock; the calls in package
//     syscalls' locks.go, the records in kernel/state.go), reported as
//     lock/<ino> records;
//   - the System V IPC namespace (package sysvipc, its calls in
//     package syscalls' sysvipc.go): semaphore sets, message queues, and the
//     bookkeeping of shared memory segments whose memory is a file of
//     /dev/shm that the client maps (ShmAttachPlan), reported as
//     sysv/... records;
//   - permission checks: DAC against the calling process's credentials
//     (supplementary groups and capabilities included), the sticky bit,
//     set-id clearing and the owner and group of new files (the rules in
//     package auth, applied to dentries in kernel/perm.go); the gofer
//     runs as root and checks nothing for the sentry; the xattr calls
//     answer as a filesystem without extended attributes
//     (package syscalls: xattr.go);
//   - exec planning: #! scripts and ELF images read through the gofer, and
//     the files the client maps (kernel/exec.go): served by PageRead, written
//     back by PageWrite (as a positional write through the mapping's
//     writable description), and named in Reply.mapped when a call of the
//     client changes one (kernel/write.go: NoteMappedChange,
//     NoteMappedResize);
//   - splice, tee, copy_file_range and sendfile, copying through the
//     server (package syscalls: splice.go, sendfile.go): the bytes they
//     write are in no call, so their write records carry them
//     (kernel.Task.DataNotInCall);
//   - pseudo-terminals (package pty: the terminal and its line discipline;
//     package fsimpl/devpts: an end's description, its I/O, job control
//     and readiness; package kernel's pty.go: /dev/ptmx, /dev/pts, an
//     end's rebuild and the signals of ISIG characters to the foreground
//     group; package syscalls' pty.go: the ioctls; pty.Table.mu and
//     Terminal.mu are leaves, taken under kernel.Kernel.Mu only to derive a
//     terminal's replay record);
//   - the client caches' leases (package readlease, over the attribute
//     cache's observer): read leases of files opened read-only
//     (readlease.go; leases ahead of the process's opens of listed
//     files, dataahead.go, syscalls.OpenAhead), owned leases of files a client's open created
//     (claimed at the creation, claimOwnedLease, granted in the
//     creating open's reply or at the client's lseek, grantOwnedLease;
//     every open voids them,
//     ownedFileOpened; the client's marked writes do not,
//     kernel.Task.OwnedWrite) and path
//     leases per inode and kind (the directories
//     a walk searched, the files it found, the attributes of its end),
//     granted in the replies of stat, access, readlink and read-only
//     opens of paths whose walk crossed only gofer files (pathlease.go;
//     an ENOENT answer carries the complete names of the small directory
//     the name was missing in, missingnames.go; a lookup's reply
//     the listing of the small directory its last name is in,
//     dirlisting.go; a getdents64's the listings of subdirectories,
//     dirahead.go;
//     postopen.go: the client posts the same open later, naming the fd
//     its description goes at, Syscall.install_fd), and of unlinks that
//     failed with ENOENT (negunlink.go: the client posts an O_CREAT open
//     of the missing name, kernel.Task.MissingIn); the walk marks
//     kernel.Task.NotLeasable and notes what it touched in
//     kernel.Task.PathView); a name in a directory where another
//     client unlinked or renamed one is walked to again (the vfs's
//     dentry validAt); an
//     unlink, rename, chmod or chown is announced before it is made
//     (goferclient.WithChanging, readlease.BeginChange), and a client's
//     LeaseRevoked counts once the calls it posted before it finished
//     (client.leaseAcked, waiting on client.postedDone off the receiving
//     goroutine);
//   - inotify instances on gVisor's vfs.Inotify (package fsimpl/inotify:
//     the instances and the watched inodes; their calls in package
//     syscalls' inotify.go), with events from this server's own file
//     operations (package kernel's inotify.go, with the record);
//   - kernel objects on gVisor's packages (kobj/, socket/): eventfds and
//     timerfds (their calls in package syscalls' eventfd.go and
//     timerfd.go, the kinds in packages fsimpl/eventfd and
//     fsimpl/timerfd), epoll instances over
//     every file kind (package fsimpl/epoll, their calls in package
//     syscalls' epoll.go), AF_UNIX sockets and the client's AF_UNIX name
//     space (package fsimpl/unixsock, the name space kernel.Sockets, the
//     calls in package syscalls' socket.go and socket_unix.go), AF_INET
//     and AF_INET6 sockets on the client's netstack (package fsimpl/inet,
//     their calls in package syscalls' socket_inet.go: loopback only, or
//     with "sandbox" the interfaces the client brought in Hello.network,
//     whose frames come and go as Frames messages: network.go, the
//     modes, and package kernel's network.go, the Hello's check, the stack's and the
//     interfaces', whose ioctls are package syscalls' netif.go) or, when
//     the operator chose Config.Network "host", the server machine's own
//     sockets (inet.HostFile, package syscalls' socket_host.go); route
//     netlink sockets (package fsimpl/netlink, package syscalls'
//     socket_netlink.go); their replay state is derived and rebuilt
//     in package kernel's kobjstate.go. Signalfds (package fsimpl/signalfd, their
//     calls in package syscalls' signalfd.go, their reads and signal
//     routing in package kernel's signalfd.go and signals.go): the
//     descriptor and mask; the pending signals are the client's.
//
// Ids are restart-friendly: the functions that create processes and fds
// take a requested number (NewProcessLocked, AllocTIDLocked, syscalls' doClone,
// fdtable.Table.InstallAt), so that replay of a client's log can rebuild the same
// PIDs and fd numbers on a fresh server.
//
// # Calls
//
// A Session stream (gRPC, or the framed wire of transport.Serve) has one
// receiving goroutine (session.go). A thread's calls run one at a time, in
// arrival order, on a worker run while the thread has calls queued, on a
// goroutine of the server's pool (package workpool: reused, with its grown
// stack, by the next call of any thread; it exits after 2 s idle); a call in inlineSyscalls (client.go: memory-only, never blocking,
// never reaching the gofer) arriving while its thread is idle runs on the
// receiving goroutine itself, which saves a goroutine start and hand-off
// per call. Start, PageRead, PageWrite, FileRelease and Restore run on
// goroutines of their own (the client sends one file's PageWrites one at a
// time), Rewrites one at a time in order. A FileRelease the client posted
// is ordered as a posted system call, and its records go with its reply
// (filerelease.go).
//
// Posted calls (posted.go): a call the client did not wait for
// (Syscall.posted: a write behind, close, umask, a metadata call) runs in
// its thread's order like any other, but a call of another thread that
// its client waits for runs only after every posted call that arrived
// before it has finished and its reply is on the stream
// (client.postedOut, waited on with client.postedDone under
// kernel.Kernel.Mu), an Interrupt goes to the thread's next waited call,
// and a failed write behind leaves its errno on the description
// (fdesc.File.WBErr) for the next fsync, fdatasync, waited write or close,
// and on the file (kernel.Kernel.WbErrs, package wberr) for the next fsync
// of any of its descriptions; both are replay state (FileState's
// write_error, "wberr/<ino>" records), and a call that reports them has
// their change go with its reply (CallEffects.WBErrInos, WBErrFiles).
// A sendfile or copy_file_range that carries the bytes the client read
// from its read lease (Syscall.leased_data, kernel.Task.LeasedData) writes
// them instead of reading the in file (package syscalls' leasedCopy,
// package copybehind),
// and fails as a write behind does.
// Batches (package postbatch): calls a client batched
// (ClientMessage.posted_calls) are queued before the message's own; a
// posted reply is held (clientStream.postedHeld, under sendMu) while the
// thread's next queued call is posted, and every later send carries the
// held replies in front of it (sendRawLocked; a channel reply carries
// them in Reply.posted_replies, or, for a client without
// FeatureChannelPosted, they go alone before it is stamped), so "on the
// stream" includes held. A held reply carries its call's effects only
// (replay.Tracker.TakeEffects); the records of what the batch touched go
// once, after the held replies in the frame that carries them
// (clientStream.sendHeldWithLocked). After a batch the client says a channel call
// follows, a posted reply with no next call is held for it too
// (clientStream.channelFollows); so is one the client lets wait
// (Syscall.reply_can_wait) when every held reply is such a success, for
// the next message or the linger timer (lingering.go; a reply the client
// may wait for sends them). A push or a heartbeat's answer carries the
// records before it in its frame (ServerMessage.state_before,
// FeatureStateBefore). Posted calls a channel call carried
// (Call.posted_calls) are queued as a frame's, before it, and the
// channel's goroutine runs its thread's queue itself (hopCall). A frame's posted
// calls are all queued before their threads' workers start
// (receivePostedBatch), or, for one thread's calls that are all
// inlineSyscalls, run on the receiving goroutine; so do a frame of posted
// calls alone of a client whose kernel has one thread, under a watch that
// hands the reading to a new goroutine if the batch outlasts
// postedRunWatch (readerrun.go: what the batch may wait for that only
// the reader brings). Runs of attribute calls (attrrun.go, package
// attrrun): from a thread's posted chown, chmod or utimensat by path of a
// regular file on, while its next call is another, their SetStats are
// held in threadCalls.attrRun (a kernel.AttrRun, the worker's own: no
// lock; its calls find it in kernel.Task.AttrRun) and sent merged
// before the run's replies, before anything reads attributes
// (package syscalls' StatOf),
// and before a change that cannot join; the run's calls are finished
// only once their replies are sent, after that. A run holding a change
// whose thread has nothing queued waits for its next call on a pool
// worker (client.runWake, at most attrRunWait), cut short by a call
// waiting for posted ones (client.postedWaiters). A system call runs in
// a kernel.Task that holds its reply; the Task of a posted write whose
// reply went packed (replyPosted: its values copied into the batch's
// posted_writes), or of a posted call whose reply is a result alone
// (posted_done: postbatch.HoldDone), is its thread's spare, zeroed, for
// the next call (threadCalls.spareTask): a loop of writes or umasks
// allocates no Task per call.
//
// # Peers (grant.go, package seqguard)
//
// Who a peer is comes from its connection (transport.PeerIdentity of a
// Unix socket, a verified TLS certificate), never from its messages: a
// non-operator peer may Start or Restore processes only with its own uid
// and gid, sees only its own clients in Debug, and its client id is
// qualified by its identity before it reaches the gofer (Origin). A
// mutual-TLS peer is an operator unless its certificate names its user
// (CertUserScheme). The
// receiving goroutine refuses (EINVAL) a call whose seq the session
// already saw or that is far below the highest seen; calls re-sent after
// a Restore are accepted once each. A Hello of another protocol version
// is answered by a Welcome that says so and the session ends; a stream
// that sends no Hello within HelloTimeout is ended. A non-operator peer
// holds at most Config.MaxClientsPerPeer clients. RLIMIT_NOFILE, which
// the client sends in Start and with prlimit64 (package syscalls:
// rlimit.go), bounds the new fds of an fd table, up to the client's
// /proc/sys/fs/nr_open (kernel.Sysctls.NrOpen; package kernel/fdtable:
// high fds live in a map). A panic of any call
// (not only system call handlers) is logged and answered EIO; one of a
// Session or Debug handler ends that stream or call.
//
// # Packages (docs/ARCHITECTURE.md, "The remote sentry's packages")
//
// This package is the front (Server, Config, sessions, grants, the
// client and its dispatch, the client caches' leases) with what the
// kernel asks of the calls above it (kernel.Files: kernelFiles). Below
// it, importing nothing of it:
//
//   - the system call handlers and their table (package syscalls, as
//     gVisor's syscalls/linux: each a function of a *kernel.Task;
//     syscalls.Table, which dispatch reads);
//   - the vfs (package vfs: dentries, the walk and its caches, grafted
//     mounts, /dev/shm, the gofer file kinds), given the kernel as a
//     vfs.Kernel (*kernel.Kernel: the synthesized files, the descriptions'
//     owner, the set-id rule of a write) and each walk's call as a
//     vfs.Caller (*kernel.Task: its pins and its search permission);
//   - the synthesized /dev and /proc (package fsimpl/synth), above the
//     vfs, given the kernel's state as a synth.Kernel (package kernel's
//     synth.go);
//   - the kernel: package kernel (Kernel, the client's kernel; Task,
//     the call; the process tree,
//     signals, job control, ptrace, timers, permissions, a Start and
//     exec, pipe ends, stdio descriptions, the replay capture's Tracker
//     and keys, as its doc.go says), kernel/fdtable (a process's fd
//     table), kernel/stdio (a stdio set's stdin and terminal);
//   - subsystem objects, generic over this package's owner types or told
//     of changes by a hook: filelock, lease, mapped, durable, sysvipc,
//     mount, pty, ptrace, procfs, sockdiag, kobj, socket, goferclient (donated),
//     fdesc (the file layer: the open file description, its kinds'
//     interface and the call as a file kind sees it), the file kinds
//     that moved out (fsimpl/anon, fsimpl/eventfd, fsimpl/timerfd,
//     fsimpl/signalfd, fsimpl/inotify, fsimpl/epoll, fsimpl/inet,
//     fsimpl/netlink, fsimpl/unixsock, fsimpl/devpts);
//   - leaves: syserr, wake, auth, ksignal, ktimer, memacct, replay,
//     handlebind, seqguard, workpool.
//
// A package may import a layer below its own, never this package nor a
// layer above it.
//
// What stays here (docs/ARCHITECTURE.md, "The remote sentry's
// packages"): the front's client (the stream, clientStream; the dispatch
// queues, the posted calls' order, the workers' records per thread,
// threadCalls; serve, enqueue, the workers, hop.go, posted.go,
// attrrun.go's runs) holds the kernel (kernel.Kernel),
// which names nothing of it; the client caches' leases are functions
// over the kernel or the call (f(k, ...), f(c, ...)), as Go defines a
// method only in its type's package. The packages below reach the
// kernel through interfaces that are *kernel.Kernel's own methods
// (vfs.Kernel with fdesc.Owner, devpts.Kernel, netlink.Router,
// unixsock.Namespace; synth.Kernel is kernel.SynthKernel's); the kernel
// reaches the calls above it through kernel.Files, which kernelFiles
// implements (kernelfiles.go): a synthesized file's open for a Restore
// (package syscalls') and the lease revocations a call makes (the
// front's).
//
// The file layer is package fdesc (the plan is in docs/ARCHITECTURE.md):
// the open file description (fdesc.File), its kinds'
// interface (fdesc.FileImpl) and the call a file operation
// runs in (fdesc.Call). A description reaches its client only through
// what it is given: its Owner (set by vfs.NewFile: the durability check,
// inotify's close event, dropping its locks and lease), its Tracker (its
// replay changes, set when an fd table first holds it), the
// OffsetRecorder (the call its offset changes in) and its Dentry, an
// interface vfs.Dentry implements (vfs.DentryOf gets it back).
// *kernel.Task implements Call, and only package kernel and this one look behind it
// (kernel.TaskFromCall, as gVisor's kernel.TaskFromContext): the kernel functions a
// file kind is given at construction (job control, a dentry's stat, a
// signalfd's read) and the kinds that stay kernel glue (pipe ends and
// their effects, stdio). The file kinds are packages of their own
// (fsimpl/*: eventfd, timerfd, signalfd, inotify, epoll, inet, netlink,
// unixsock and devpts, over fsimpl/anon), each given what it needs of
// the kernel as an interface (unixsock.Namespace, netlink.Router,
// devpts.Kernel: *kernel.Kernel; signalfd.Reader: kernel.SignalfdClient); the gofer files are
// package vfs's (vfs.Kernel), and /proc's files fsimpl/synth's
// (synth.Kernel) (docs/ARCHITECTURE.md, where the kernel's plan is).
//
// # Dependencies
//
// proto/sentrypb (the client protocol), proto/goferpb (files: the server has
// no host filesystem access of its own and reaches files only through the
// gofer, by way of its subpackage goferclient), sentry/sysabi (system-call memory), gVisor's pkg/abi/linux (struct
// layouts), golang.org/x/sys/unix (numbers), transport (PeerIdentity
// and ErrRefused only), hclog and grpc. Nothing of the
// client sentry, the platform, or the command may be imported here, and
// nothing but the command (which wires a Server to a grpc.Server) may import
// this package.
//
// # Errors
//
// Handlers return Go errors wrapping a unix.Errno (package syserr);
// syserr.ErrnoOf maps them to the reply's errno at the dispatch boundary
// (dispatch.go). Bad input from the network or the application gets an
// errno, never a panic; a handler panic is a bug, logged and answered
// EIO.
//
// # Recovery (sentry.proto, Recovery section; docs/ARCHITECTURE.md)
//
// Replay state is captured by package replay and derived in kernel/state.go:
// code that changes a process, thread, fd slot, file description, fs
// context, signal handler table, pipe, mapped file, timer, lock set, SysV
// object or mount only touches it (kernel.Tracker.Changed, one typed entry
// point over a replay.Tracker); every reply or push sent afterwards
// carries the current value of each touched object, derived by
// deriveRecordLocked (full value, keyed by a statekey.Key; deleted when
// gone), in Reply.state or in a StateUpdate push sent just before the
// push. File offsets, pipe and socketpair counters and WriteStates are instead committed
// with the reply of the call that made them (callEffects), so a call
// whose reply was lost in a crash is not counted twice when the client
// re-sends it; so are the changes of semop, msgsnd and msgrcv
// (sysvipc.Registry.Commit). Ids of descriptions, fd tables, fs contexts,
// signal tables and pipes are assigned when first reported. The gofer
// file handles in the records a client receives are bound to it (package
// handlebind: a tag under the gofer's binding key), and checked when they
// come back. Package kernel's restore.go rebuilds a client from a Restore
// (asking the open handlers, kernel.Files, for synthesized files)
// and applies Rewrites (in arrival order, one at a time); package durable tracks
// writes until a gofer fsync (package kernel's durable.go: one batched Fsync per flusher
// pass) and pushes Durable. Every gofer mutation carries
// Origin{principal/client_id, seq, part} for the gofer's reply cache; a
// call re-sent after a Restore (seq below the Restore's) whose effect is
// already visible (EEXIST, ENOENT) is passed to the gofer anyway, so that
// the cache answers it as the first execution did.
//
// The gofer connection is package goferclient (its doc.go): one
// persistent call stream, handles that survive a gofer restart, donated
// fds of regular files and the attribute cache. Files unlinked while open
// survive (the gofer renamed them; see gofer.SillyPrefix).
//
// Known gaps: an object changed by a call still in flight can be reported
// through another thread's message (fd slots, processes, SysV segments'
// mapping counts: a window of microseconds between the change and the
// call's reply); a pipe write
// larger than PIPE_BUF that blocked part way and is re-sent relies on the
// restored pipe's skip count, exact only with one writer (a socketpair
// send alike: unixsock.Conn); directory cursors restore exactly only if
// the directory did not change.
//
// # Lock order
//
// The front's dispatch state (client's queues and posted calls, each
// thread's threadCalls but its attrRun) is protected by the kernel lock,
// kernel.Kernel.Mu: a call's thread is found and its death seen under it.
//
//	fdesc.File.OffMu             (an open file description's offset lock;
//	                              may be held across gofer RPCs)
//	  clientStream.sendMu        (serializes stream sends; taken before
//	                              kernel.Kernel.Mu to build state records;
//	                              also routes call channels' replies,
//	                              hop.go, stamped under it: the
//	                              transport's locks come after it)
//	    kernel.Kernel.Mu           (the kernel lock; never held across a gofer
//	                              RPC, a blocking wait or a send)
//	      fdtable.Table.mu
//	        filelock.Table.mu    (closing an fd drops POSIX locks)
//	      pipe.FIFOTable.mu      (before pipe.Pipe.mu)
//	      pipe.Pipe.mu, stdio.Stdin.mu (any stdio set's)
//	      vfs.VFS.mu, mapped.Table.mu
//	        mount.Table.mu       (a leaf)
//	      ktimer.Timer.mu                 (a timer's leaf; its expiry
//	                                       callback runs unlocked and
//	                                       takes kernel.Kernel.Mu)
//	      sysvipc.Registry.mu        (process exit and exec; its Changed
//	                                  hook takes replay.Tracker.mu)
//	      mqueue.Registry.mu         (deriving a queue's record; its
//	                                  Changed hook takes replay.Tracker.mu)
//	      pty.Table.mu > pty.Terminal.mu  (deriving a terminal's record;
//	                                       its Changed hook takes
//	                                       replay.Tracker.mu with
//	                                       neither held)
//	      replay.Tracker.mu, durable.Tracker.mu, clientStream.procQ.mu  (leaves)
//	      lease.Table.mu, fdesc.Async.mu, kernel.Sysctls.mu  (leaves: a lease
//	                              break signals its holders after
//	                              dropping lease.Table.mu)
//
//	readlease.Registry.mu > readlease.Holder.mu  (leaves: Holder.Take
//	                              runs under clientStream.sendMu, which
//	                              sends the client's queued revocations
//	                              before, or for its own in, any other
//	                              message; a change
//	                              waits for acknowledgments with neither
//	                              held, possibly under file.mu, never
//	                              under kernel.Kernel.Mu)
//
//	goferclient's locks (ReleaseQueue.mu among them)  (leaves, taken
//	                              under no lock of the package and never
//	                              held across an RPC)
//
//	kernel.Kernel.SegFileMu        (opening SysV segments' files; held
//	                              across gofer RPCs, never with mu)
//
//	vfs.VFS.MntMu                (mount, umount2 and their replay, and
//	                              unshare and clone with CLONE_NEWNS;
//	                              held across gofer RPCs, before the
//	                              vfs's own locks (package vfs);
//	                              kernel.Kernel.MountBusy,
//	                              ReapMountNS and NewMountNSLocked
//	                              take kernel.Kernel.Mu under it)
//
// Kernel objects: epoll.File.mu is taken before the readiness locks of the
// files it watches (pipe.Pipe.mu, a nested epoll.File.mu: never an
// ancestor, EPOLL_CTL_ADD refuses loops) and inside kernel.Kernel.Mu when
// its record is built; a listener's unixsock.File.ConnMu is held across
// the transport's connect and accept; unixsock.Conn.Mu (a connection's
// queue mirror) nests inside kernel.Kernel.Mu and outside gVisor's endpoint
// locks; unixsock.File.Mu, kobj.Eventfd.mu and kernel.Sockets' mutexes are
// leaves but for gVisor's own endpoint and queue locks, whose
// notifications take only kobj.Watch.mu (a leaf); socket.Timeouts.mu (a
// socket's SO_RCVTIMEO/SO_SNDTIMEO) and inet.Common's mutexes (the
// backlog, a connection lost with a server) are leaves; a host socket's
// readiness comes from gVisor's fdnotifier goroutine, which takes only
// kobj.Watch.mu. A vfs.Memfd's lock (its seals) is a leaf. splice and tee
// lock two pipes' pipe.Pipe.mu together (pipe.LockTwo), the lower inode
// number first. inotify.Targets.mu (the watched inodes) is a leaf: events
// are delivered to gVisor's watches after it is released; inotify.File.mu
// comes before kobj.Inotify's. signalfd.File.mu (a signalfd's mask) and
// ksignal.WaitPending.mu (Thread.SigWait: the pending set of a thread's
// wait call) are leaves; a signalfd's mask is read under
// fdtable.Table.mu when a signal is routed.
//
// Work that must follow a change made under kernel.Kernel.Mu (pushes, closing
// files, which may call the gofer) is collected in a deferred
// (kernel.Deferred) and run with k.out after the lock is released.
//
// The front and the kernel (client.go, session.go): the front's client
// holds the kernel and its stream, a clientStream (the attached stream, the held posted
// replies, the call channels' reply routes, lease revocations sent first,
// the ProcQuery answers awaited), which attaches to each message the
// replay records it asks of the kernel (recordsSince). The
// kernel sends only through kernel.Kernel.Out, the same stream as a
// kernel.Sender (Push, Send, SendBuilt, Ask), and checks credentials a
// Start, Spawn or Restore asks for with its kernel.Grant. Blocking calls wait on channels (wake.Notifier)
// with no lock held and return ERESTARTSYS when the client sends
// Interrupt, the thread is killed, or the client is freed.
package server
