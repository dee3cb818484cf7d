// Package goferclient is the remote sentry's connection to its gofer:
// everything between the server's file system code and the gofer's
// protocol (proto/goferpb).
//
// What it owns:
//
//   - The call stream (gofercalls.go): every gofer call travels on one
//     persistent Calls stream, multiplexed by id: the framed wire on a
//     Unix socket, a gRPC stream over TCP, unary RPCs to an older gofer.
//     The stream is the gofer session. On the framed wire, calls go on
//     call channels the gofer grants (callchan.go: shared memory, one
//     call at a time each, at most maxCallChannels, ended with the
//     stream; a donated fd comes on the channel's own fd socket).
//   - GoferConn (goferconn.go): the gofer may restart (kill -9 of the
//     gofer must lose no acknowledged write). GoferConn gives the server
//     virtual handle ids, re-resolves the real ones by file handle once
//     a restarted gofer no longer knows them (replaying their opens), and
//     re-sends the calls an outage interrupted; its comment gives the
//     window this leaves for creations, links, unlinks and renames. The
//     calls not the same when run twice (a fallocate that moves bytes, a
//     truncation, a RENAME_EXCHANGE) are sent conditional on the state
//     they expect (fallocate.go, conditional.go), so a re-sent one is
//     not run again.
//   - Donated fds (goferdonate.go, over package donated): when the
//     gofer shares the machine, it donates the host fd of each regular
//     file the server opens, and GoferConn serves that handle's Reads and
//     Writes with the server's own pread and pwrite; path operations stay
//     the gofer's.
//   - Posted SetStats (postsetstat.go): a SetStat whose caller does not
//     wait (PostSetStat, AttrCache.PostSetStat) is queued and rides
//     the next call (GoferCall.before, FeatureBefore), or goes alone
//     after postDelay; every call that begins later is made after it
//     (at most one carrier in flight; the others wait for it), but a
//     creation or a donated write of a file no posted SetStat changes.
//   - ReleaseQueue (releases.go): a client's handles to release, sent
//     in batches off the calls' path.
//   - CallDeadlines (deadline.go): the contexts that bound a client's
//     gofer calls (60 s); the calls begun within a second share one, so
//     a call sets no timer of its own.
//   - AttrCache (attrcache.go): attributes, negative lookups' validity
//     and small files' data, valid for AttrTTL, dropped by this server's
//     own changes at once; and, per directory, the latest removals of
//     names by distinct clients, which a client's cached names of that
//     directory are checked against (RemovedSince). Its Observer (the server's read leases) is
//     told of every change of a file that goes through it and of every
//     attribute the gofer reports, with no lock of the cache held, and,
//     before it is made, of a change that may make an open or a creation
//     fail (Changing: an Unlink or Rename of the inodes its caller names,
//     WithChanging; a SetStat of the mode or owner; NamesChanging: a name
//     made in a directory). A call that may make a name counts it
//     (nameMade) as soon as the gofer answered, before the observer is
//     told, so a lease granted after that is from a walk that no longer
//     trusts a negative dentry the name made stale.
//
// Dependencies: proto/goferpb, transport (the framed wire and fd
// passing) and sentry/server/donated. It knows nothing of the server's
// kernel state; the server (package server) builds on it, never the
// other way round.
//
// # Lock order
//
// GoferConn.mu, goferCalls.mu, callConn.sendMu, callConn.mu,
// ReleaseQueue.mu, CallDeadlines.mu and AttrCache.mu are leaves, never held across a
// gofer call's wait (callConn.mu guards the call channels' lists, not a
// call on one). A donated fd's reference (package donated) is
// taken under GoferConn.mu; its pread or pwrite runs with no lock held.
// The Observer's methods are called with no lock of this package held;
// they may wait (a read lease's revocation waits for its holders).
package goferclient
