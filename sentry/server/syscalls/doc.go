// Package syscalls holds the remote sentry's system call handlers, as
// gVisor's pkg/sentry/syscalls/linux: each is a function of the call, a
// *kernel.Task, returning the call's result or an error wrapping its
// errno (package syserr; the server's dispatch maps it at its one
// boundary). Table (table.go, as gVisor's linux64.go) maps each number
// to its handler; a number it lacks fails with ENOSYS in that dispatch.
// The table is here, not in the server package, because it names no
// feature of the server's front: what the front adds to a call (its path
// and read leases, the posted calls' order, the replay effects) wraps
// the handler in its dispatch, whatever the handler.
//
// What it owns, one file a subsystem:
//   - args.go: a call's arguments (ArgInt, PathArg, FileArg, FileAs),
//     where the walk of a path it names starts and ends (StartDir,
//     LookupAt) and the parent of a name it creates (CreateAt,
//     ResolveCreate);
//   - process.go: the process tree's calls (clone, clone3, fork, vfork, execve,
//     exit, wait4, waitid, the pids, process groups and sessions);
//   - unshare.go: unshare (a process's own fd table, fs context and a
//     thread's own semaphore undo list, over package kernel's
//     unshare.go; every namespace flag fails);
//   - identity.go: the credentials' calls (get*id, set*id, setfs*id,
//     getgroups, setgroups) and an id argument (ArgID);
//   - capability.go: capget, capset and prctl's capability options,
//     over package auth's capability sets;
//   - ptrace.go: the ptrace requests that change a relation or end a
//     stop, over package kernel's ptrace.go (the register and memory
//     requests are the client's);
//   - signal.go: the signal calls (kill, tkill, tgkill, rt_sigqueueinfo,
//     rt_tgsigqueueinfo, rt_sigaction) with Linux's permission check,
//     over package kernel's signals;
//   - timers.go: the timers that raise signals (alarm, setitimer,
//     getitimer, timer_*), over package kernel's timers and package
//     ktimer's clocks and layouts;
//   - xattr.go: the extended attribute calls: Linux's checks here (the
//     gofer, root on the host, makes none), the user. namespace of gofer
//     files through the gofer's xattr calls;
//   - mount.go: mount (tmpfs, remount, bind mounts and their
//     propagation, propagation types) and umount2, over package vfs's
//     grafts and package mount's table;
//   - poll.go: poll, ppoll, select and pselect6 over each file's
//     readiness for the waiting thread (kernel.ReadinessFor), with the
//     wait on several files and the timespec layouts that epoll.go and
//     mmsg.go use too;
//   - mqueue.go: the POSIX message queue calls (mq_*) over package
//     mqueue's namespace;
//   - sysvipc.go: the System V IPC calls (sem*, msg*, shm*) over
//     package sysvipc's namespace, with a segment's file in the client's
//     /dev/shm (its size set through attr.go's SetStat);
//   - locks.go: flock and fcntl's record locks (FcntlLock, which the
//     server's fcntl calls), over package filelock's table;
//   - leases.go: fcntl's owner, I/O signal and lease commands
//     (FcntlOwner, FcntlLease, which the server's fcntl calls), over
//     package kernel's async.go;
//   - eventfd.go: eventfd and eventfd2, over package fsimpl/eventfd;
//   - timerfd.go: timerfd_create, timerfd_settime and timerfd_gettime,
//     over package fsimpl/timerfd;
//   - fallocate.go: fallocate of a gofer file, Linux's checks then the
//     gofer's Fallocate (a resize's sync, the set-id bits and a mapped
//     file's change through kernel.Files and package kernel's
//     durable.go);
//   - inotify.go: inotify_init, inotify_init1, inotify_add_watch and
//     inotify_rm_watch, over package fsimpl/inotify (the events are
//     package kernel's inotify.go);
//   - ioctl.go: ioctl (FIOCLEX, FIONCLEX, FIONBIO, FIONREAD of every
//     file kind, the stdio terminal's ioctls), handing the interface
//     ioctls to netif.go and a pseudo-terminal end's to pty.go;
//   - pty.go: the terminal ioctls of a pseudo-terminal's end, over
//     packages pty and fsimpl/devpts and package kernel's pty.go;
//   - signalfd.go: signalfd and signalfd4, over package fsimpl/signalfd
//     (a read is the client's answer, kernel.SignalfdClient);
//   - memfd.go: memfd_create, a file of the client's /dev/shm unlinked at
//     once, and fcntl's seals (FcntlSeals, which the server's fcntl
//     calls), over package vfs's memfds;
//   - epoll.go: epoll_create, epoll_ctl and the epoll waits, over package
//     fsimpl/epoll, each interest's readiness the waiting thread's
//     (kernel.ReadinessFor);
//   - mmsg.go: sendmmsg and recvmmsg, a vector of the one-message calls
//     the server's table gives them (Sendmmsg(Sendmsg), Recvmmsg(Recvmsg));
//   - socket.go: the socket calls (socket, socketpair, bind, listen,
//     accept, connect, shutdown, getsockname, getpeername, sendto,
//     recvfrom, sendmsg, recvmsg, getsockopt, setsockopt), each handing
//     a netlink, host or inet socket to its kind's calls, and AF_UNIX
//     sockets' (package fsimpl/unixsock over package socket's Unix:
//     SCM_RIGHTS and SCM_CREDENTIALS, the connection's mirror for
//     recovery); socket_unix.go, the client's AF_UNIX name space as
//     they use it (an abstract name, a path's socket node made through
//     the gofer, autobind); socket_inet.go, an AF_INET or AF_INET6
//     socket's on the client's netstack (package fsimpl/inet's File,
//     with a send's room for writes behind in the reply);
//     socket_host.go, a host socket's (Config.Network "host": inet's
//     HostFile); socket_netlink.go, a route netlink socket's (package
//     fsimpl/netlink); socket_msg.go, their memory (a socket address
//     taken and given back, struct msghdr);
//   - netif.go: the interface ioctls on any socket (which ioctl asks
//     first: SIOCATMARK, SIOCGIFCONF, SIOCGIF*, the refused SIOCSIF*),
//     over package kernel's network.go;
//   - rlimit.go: prlimit64 of the resource limits the server enforces
//     (RLIMIT_NOFILE, RLIMIT_FSIZE; RLIMIT_CORE, whether a killed
//     process's wait status says it dumped core) and nofile;
//   - read_write.go: read, write, their vector and positional forms and
//     lseek (readFile and writeFile, a description's I/O, which splice
//     and sendfile use too; Iovecs, which the server's posted calls'
//     count uses; a kernel object's I/O over a usermem.IOSequence, seqIO;
//     preadv2's and pwritev2's RWF_* flags, vecFlags), over package
//     kernel's write.go (WriteAt: a gofer write's durability and record);
//   - fd.go: close, close_range (its CLOSE_RANGE_UNSHARE, a process's
//     own copy of its fd table: kernel.Task.UnshareFDTable), dup, dup2,
//     dup3 and fcntl (its lock, owner, lease and seal commands are
//     locks.go's, leases.go's and memfd.go's);
//   - pipe.go: pipe and pipe2, over package kernel's pipe.go;
//   - sync.go: fsync, fdatasync, sync_file_range (a gofer file's range
//     synced as fdatasync syncs the file), sync, syncfs, fadvise64 and
//     readahead (a hint taken without a read), over package kernel's
//     durable.go;
//   - getdents.go: getdents64, over a description's directory cursor
//     (fdesc.DirCursor) and the synthesized directories' listings;
//   - mmap.go: mmap of a gofer file or /dev/zero, planned here and mapped
//     by the client (package mapped's table);
//   - splice.go and sendfile.go: splice, tee, copy_file_range and
//     sendfile, copying through the server: the bytes they write are in
//     no call, so their write records carry them
//     (kernel.Task.DataNotInCall); a copy from a file the client holds a
//     read lease on takes the client's bytes instead (leasedCopy, package
//     copybehind); pipes' locks are taken two at a time (pipe.LockTwo);
//   - open.go: open, openat and creat (openDentry: a dentry's
//     description of its kind; a FIFO's and a pseudo-terminal's open are
//     package kernel's), the install of a posted open's description at
//     the fd its client named and the note of where a leasable open's
//     walk ended (the server's postopen.go and pathlease.go decide
//     which opens a path lease answers), and RestoreSyntheticFile, a
//     Restore's synthesized file opened again by path (the server's
//     kernel.Files); an open of a client's owned file voids its claim
//     through kernel.Files (OwnedFileOpened, the front's lease);
//   - namei.go (as Linux's fs/namei.c): mkdir, symlink, link, unlink,
//     rmdir, rename and mknod, each a gofer call the dentry cache then
//     follows, with its inotify events; an unlink of a missing name
//     notes the directory for the front's negative unlink
//     (kernel.Task.MissingIn, the server's negunlink.go);
//   - stat.go: stat, lstat, fstat, newfstatat and statx (StatOf,
//     ToLinuxStat and ToStatx, which the server's leases use too);
//   - attr.go: truncate, ftruncate, chmod, chown and their fd and at
//     forms, utimensat, utime, utimes and futimesat (SetStat, a gofer
//     SetStat a run of posted attribute calls may hold, kernel's
//     attrrun.go; TargetAttrs, which link uses too);
//   - readlink.go, access.go, cwd.go (chdir, fchdir, chroot, getcwd, umask: a
//     process's fs context) and statfs.go (a grafted tmpfs's as Linux
//     reports it): path calls that change no name;
//   - name.go: a system call's name for the logs (Name);
//   - table.go: the table (Table, Handler).
//
// The server package, the front, holds no handler: its dispatch reads
// Table, and its leases and posted calls call the exported helpers here
// (the arguments, StatOf, ToLinuxStat, ToStatx, Iovecs) and its
// kernel.Files RestoreSyntheticFile (docs/ARCHITECTURE.md, "The remote
// sentry's packages").
//
// Dependencies: package kernel (the call, the kernel state and its
// functions), the layers below it the handlers name (vfs: a path's walk;
// fdesc: a call's files; auth: credentials and capabilities; syserr;
// pipe: two pipes locked together; copybehind: a leased copy's bytes;
// kobj: a kernel object's I/O sequence;
// ktimer, ksignal; mount: the mount table's records; sysvipc: the IPC
// namespace; filelock: the lock table; kernel/fdtable: a lock's owner,
// the table a posted open installs its description in;
// fsimpl/*: the kinds whose descriptions a call makes; socket and kobj:
// a socket's addresses, names and errors; goferclient: an unlink's or
// rename's announced change; procfs: a /proc file's scope),
// proto/goferpb (a segment's
// file, a bound socket's node), proto/sentrypb (what a handler asks the
// client), sentry/sysabi (system call names), gVisor's abi/linux, ktime,
// tcpip, usermem and socket/unix/transport, and golang.org/x/sys/unix. It must not import the server package, which
// imports it.
//
// Lock order: none of its own. mount and umount2 hold the vfs's
// vfs.VFS.MntMu across their walk's gofer RPCs, before the vfs's own
// locks and the kernel lock (kernel.Kernel.MountBusy); unshare and
// clone with CLONE_NEWNS take it before the kernel lock too (the copy
// of a mount namespace, kernel.Kernel.NewMountNSLocked); shmat holds
// kernel.Kernel.SegFileMu across the gofer RPCs that open a segment's
// file, never with the kernel lock. The I/O calls hold a description's
// offset lock (fdesc.File.OffMu, first in the order) across the gofer
// RPCs of a read or write at its offset; splice and tee lock two pipes'
// pipe.Pipe.mu together (pipe.LockTwo), the lower inode number first;
// connect and accept hold a listening AF_UNIX socket's
// unixsock.File.ConnMu across the endpoint's Connect or Accept (the
// connection's mirror and the listener's pending list change together),
// without the kernel lock. A handler takes the kernel lock
// (kernel.Kernel.Mu) around what it reads or changes of the kernel state
// and calls the kernel's ...Locked functions only under it, never across
// a gofer RPC, a blocking wait or a send; the call's memory
// (kernel.Task.Mem: the inputs the client sent, the outputs its reply
// carries) is local and needs no lock.
package syscalls
