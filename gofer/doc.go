// Package gofer is the runsc-decoupled file server: it serves the files under
// one host directory (its root) to a remote sentry over the goferpb.Gofer gRPC
// service.
//
// # What it owns
//
//   - The files on disk under its root. Nothing else in the system touches
//     them; the sentry has no host filesystem access of its own.
//   - Handles: each handle id names one O_PATH|O_NOFOLLOW host fd, plus the
//     read/write fds opened on it, a directory listing snapshot and the
//     write sequence numbers used for the durability watermark. A handle
//     follows its file across renames and keeps an unlinked file reachable
//     until it is released. Every reply that returns a handle returns a new
//     id; the sentry must Release each id it receives exactly once. An id
//     is a random 32-bit boot prefix (crypto/rand, never 0) above a 32-bit
//     counter, so ids never repeat across gofer restarts: an id kept from a
//     gofer that died is unknown (EBADF) to its successor, never another
//     file.
//   - Sessions: a sentry holds a Session stream open and names it in the
//     metadata of its calls; the handles those calls return belong to the
//     session and are released when the stream ends, so a sentry killed
//     with -9 does not leave its fds behind. Handles the sentry opened
//     (Open, Create) of unlinked regular files outlive their session as
//     orphans for the orphan linger (see WithOrphanLinger), long enough
//     for a restarted sentry to Reopen them; handles it only looked up
//     go with the session.
//     Calls without a session make handles only Release drops.
//   - Call streams (calls.go): a Calls stream is a session of its own and
//     carries the unary calls multiplexed by id, run by a pool of at most
//     maxCallWorkers workers that live as long as the stream (not a
//     goroutine per call). It arrives as a gRPC stream, or, on a Unix
//     socket, on the framed wire, whose serving loop is the command's
//     (ServeCalls takes any CallStream). On the framed wire the server
//     may also ask for call channels (GoferCall.open_channel; a
//     ChannelMaker stream makes them): shared-memory windows carrying
//     one call at a time each, run on the channel's own goroutine (a
//     donated fd goes ahead of its result on the channel's fd socket), at
//     most maxCallChannels per stream, stopped when the stream ends.
//     Every call goes through the same door (serveCall) as a unary RPC.
//   - The door (guard.go, around every method): a call may name only the
//     handle ids given to its own session (a session is usable only by the
//     authenticated peer that opened it); calls without a session share one
//     pseudo-session per peer identity. Any other id gives EBADF (Release
//     ignores it). Every Origin is qualified by the peer's identity and the
//     method before the reply cache sees it. A handler's panic becomes an
//     Internal error of that call, logged with its stack.
//   - Handle.file_handle on the wire ends with a 16-byte HMAC-SHA256 under
//     a key kept in a 0600 file (WithHandleKeyFile): Reopen accepts only
//     handles this gofer or a predecessor with the same key gave out.
//     Attach also gives the caller a binding key (HMAC of the handle key
//     over its identity) with which a sentry binds the handles it shows
//     each of its clients to that client.
//   - Donated fds (donate.go): on a call stream that can carry fds (the
//     framed wire on a Unix socket, FDSender), an Open, walk-open or
//     Create asking for it (donate) comes back with a new open fd of
//     the regular file, with exactly the access mode asked for, as
//     SCM_RIGHTS with its result (GoferResult.fds), so that a sentry on
//     this machine reads and writes it itself. Never a directory or an
//     O_PATH fd, never for O_SYNC/O_DSYNC or a writable set-id file; at
//     most maxDonated per session, counted per handle
//     (handle.donations, session.donated, under Server.mu) until the
//     handle leaves its session. WithDonateFDs(false) turns it off.
//   - Setuid/setgid bits are stripped from the host file on create and
//     chmod (only a regular file: the bits of others grant nothing) unless
//     WithAllowSetuid; the bits the
//     application set are kept in a user. attribute sealed with the handle
//     key and added to every mode the gofer reports (setid.go).
//
// # Protocol details the .proto leaves open
//
//   - Handle.file_handle is handle_type as 4 little-endian bytes followed by
//     f_handle (name_to_handle_at's struct file_handle); it is empty when the
//     filesystem cannot export handles.
//   - Read returns at most MaxReadLength bytes; a reply shorter than
//     min(length, MaxReadLength) means end of file.
//   - Read, Write need a prior Open (or Create) in the matching direction,
//     else EBADF; Getdents and Fsync open the file for reading themselves.
//   - A Mkdir, Symlink or Mknod whose file a concurrent call removed
//     before the gofer could open it succeeds with no handle and no
//     attributes (the creation happened; nothing is left to name).
//   - Getdents cookies are the host directory's own positions (d_off),
//     so a listing continues from one on any handle of the directory and
//     after a gofer restart; a handle keeps a snapshot of the listing it
//     serves (see Getdents).
//   - Fsync's durable_watermark is per handle: every write through that
//     handle that the gofer had received, with a non-zero seq at or below the
//     watermark, is on stable storage (see Fsync). An Fsync naming several
//     handles (FsyncRequest.handles) syncs them with one syncfs per
//     filesystem and reports each one's watermark.
//   - A Walk with open set also opens its last file as Open would (an open
//     by name in one call); a Create with path_handle also returns a second,
//     unopened handle of the new file (CreateReply.path), which a creation
//     answered from the reply cache does not. A Getdents with plus also
//     returns each entry's attributes (statx by name, not following a
//     symlink); every Getdents reply says whether it reaches the end of
//     the listing (eof).
//
// # Recovery
//
//   - Reopen turns a Handle.file_handle back into a handle: from the handle
//     table when this gofer process still holds the file (so an unlinked
//     but open file survives a sentry restart), else with open_by_handle_at
//     checked to lie beneath the root by identity (see Reopen).
//   - Silly rename: an Unlink with open set (the sentry's application
//     still has the file open) of a regular file's last name renames it to
//     SillyPrefix+"<inode>-<random>" in SillyDirName at the top of its
//     mount instead (in its own directory if that cannot be made), and the
//     name is removed when the last handle a sentry opened (Open, Create)
//     leaves the table; so the file also survives a gofer restart (a
//     restarted gofer adopts the name when a sentry reopens and opens the
//     file). SillyDirName is hidden: left out of the listing of a mount's
//     top, ENOENT to any operation naming it there. Stat of a silly-renamed
//     file does not count the silly name (st_nlink 0, as Linux says of an
//     unlinked file). A gofer killed while such a name exists leaves it on
//     disk if no sentry reopens the file.
//   - Seek answers lseek's SEEK_DATA and SEEK_HOLE from the handle's host
//     fd (seek.go), so a sparse file's holes are the host's.
//   - GetXattr, SetXattr, ListXattr and RemoveXattr serve the user.
//     extended attributes of a handle's regular file or directory, and
//     the sandbox's trusted. and security. ones, kept as user. ones under
//     "user.runsc-decoupled.ns." (xattr.go); other namespaces are
//     EOPNOTSUPP and the gofer's own attributes ("user.runsc-decoupled.",
//     the set-id seal) are hidden.
//   - Mutations carrying an Origin (Create, Write, Mkdir, Symlink, Link,
//     Mknod, Unlink, Rename, SetStat, Fallocate, SetXattr, RemoveXattr) go through a reply cache keyed by
//     (peer identity, method, client_id, seq, part), bounded to
//     maxCachedReplies entries and maxCachedBytes estimated bytes (LRU),
//     and ForgetClient drops a sentry client's entries when it ended for
//     good: a
//     duplicate gets the first execution's reply (waiting for it if it is
//     still running) instead of running again. A duplicate creation gets a
//     fresh handle of the file the first one made; if that file is gone (a
//     later call removed it and no handle keeps it: the sentry that sent
//     both died, and its session's handles were released), a duplicate
//     Mkdir, Symlink or Mknod gets the first execution's success and
//     attributes without a handle, a duplicate Create ESTALE (it must
//     open the file). A reply of EBADF (an
//     unknown handle, so nothing was done) is not kept: the sentry re-sends
//     such a mutation once it has re-resolved its handles after a gofer
//     restart. Nor is a Write's failure that wrote nothing (ENOSPC at its
//     first byte): the same write sent again runs, so a sentry's Rewrite
//     of a retained write can succeed once the room is back; a failure
//     after bytes were written (an O_SYNC handle's fsync) says how many
//     (written, with the errno) and is kept. A Write answered from the
//     cache says so (WriteReply.cached): the sentry tells a Rewrite that
//     wrote from one that did not. The cache lives in memory: it covers a sentry restart, not a
//     gofer restart. For that, a Fallocate may carry check_size: it runs
//     only on a file of size size_before, else replies size_differs having
//     done nothing (not kept either), so that a collapse or insertion
//     re-sent to a restarted gofer is not applied twice (fallocate.go);
//     so may a truncation (SetStat of the size, an O_TRUNC Open or
//     walk-open) carry the file's size, ctime and mtime it expects, a
//     RENAME_EXCHANGE the inodes its names must hold (check_version,
//     check_inos: conditional.go).
//
// # Confinement
//
// Every path operation is relative to a directory handle's fd and takes a
// single path component: "", ".", "..", and names containing '/' or NUL are
// rejected with EINVAL (the sentry resolves ".." itself). Symlinks are never
// followed: lookups use openat2 with RESOLVE_BENEATH|RESOLVE_NO_SYMLINKS|
// RESOLVE_NO_MAGICLINKS (falling back to openat with O_NOFOLLOW where openat2
// is missing), and Walk stops at a symlink and returns it as its last file.
// Walk with clone and no names makes a second handle of a handle's inode,
// sharing its O_PATH fd, which may have no name left (the sentry opens
// /proc/<pid>/fd/<n> of an unlinked file that way).
// Reopening a handle for I/O goes through /proc/self/fd/N of the handle's own
// fd, which names the already-resolved inode, never a path. Only regular
// files and directories can be opened; device nodes cannot be created.
//
// # Errors
//
// File-system failures are never gRPC errors: each reply carries errno, the
// positive Linux errno of the failure. Internally errors are wrapped with
// context and mapped to an errno in exactly one place (errno.go). Unknown
// handles give EBADF.
//
// # Dependencies
//
// gofer depends on proto/goferpb, golang.org/x/sys/unix, google.golang.org/grpc
// and github.com/hashicorp/go-hclog. Nothing in gofer imports sentry/,
// transport/ or the runsc-decoupled command, and nothing in it may: the gofer
// can run on its own machine.
//
// # Lock order
//
//	Server.sillyDirMu (the .rd-unlinked directories' handles)
//	Server.mu
//	    (released before any handle lock is taken; never held across a
//	    system call other than close)
//	replyCache.mu, callWorkers.sendMu, callWorkers.chanMu, setIDCache.mu (leaves)
//	handle.mu
//	    handle.seqMu
//
// No goroutine holds the locks of two handles at once. A donation of a
// handle's own open fd holds the handle's read lock until the fd is sent
// (donate.go: gift), callWorkers.sendMu included. A handle's O_PATH fd is
// immutable for its lifetime and is closed only when the reference counts
// of the handle and of its clones sharing the fd (the table's reference
// plus one per in-flight operation) have all dropped to zero, so
// operations that use only the O_PATH fd (Walk, Stat, Rename, Link, ...)
// need no handle lock.
package gofer
