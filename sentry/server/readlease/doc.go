// Package readlease is the server's table of read leases: the promises,
// made to clients, that a regular file's data and attributes do not
// change without the client being told first (docs/ARCHITECTURE.md,
// "The client's read cache"). A client that holds a lease on a file
// answers read, pread, readv and fstat of it from a copy of its own.
//
// Path leases use the same table on keys of their own (PathKey: per
// inode number and kind, pathkeys.go): that a walk's answer still holds
// (stat, access, readlink of a path; docs/ARCHITECTURE.md, "The client's
// path cache"). Changed revokes every kind of the inode's number,
// DirChanged a directory's attributes and missing names, ChangedPaths
// all of them; a directory's complete names (PathComplete, held by the
// client that made it) are revoked by every change of it but its
// holder's own (HolderOf of the change's context); a path grant
// (BeginPath, GrantPath) fails if one of these that ran since it began
// revoked one of its keys (pathchanges.go), and gives a client asking
// again the lease it holds on a key.
//
// Owned leases use the table too (OwnedKey, owned.go): a client keeps a
// file it created itself. Its creation makes a claim (BeginOwned, no
// message); the client's first lseek asks for the lease (Owned.Grant);
// every change of the inode but the creating description's marked
// writes (WithOwnedWrite) and every open of it (Opened) void the claim
// and revoke the lease; the application's close of the description
// forgets both (Owned.End) without a revocation.
//
// What it owns: per inode (Key) the leases granted and a change counter
// that makes a grant racing with a change fail (for path grants, a count
// of all path changes, Registry.pathGen, and the keys each of the last
// pathChangeLog revoked); per client (Holder) its
// leases, the revocations decided for it (numbered by an epoch), which
// were sent and which the client acknowledged, and its leases in the
// order granted, counted in two budgets bounded apart, read (and owned)
// leases and path leases (budget.go: a listing's leases never crowd out
// a read lease, nor the reverse; the expiry's order: a path grant
// forgets the expired ones from the front, so the table holds a find's
// live leases alone), when its last renewal arrived (Renew: every lease
// it holds then lives a TTL more, within its life of ten TTLs) and the
// releases that make room in a full budget (revocations of its oldest
// leases without a change, forgotten once acknowledged). An inode's
// leases are a list of records (holder, id, expiry; fileLeases.leases),
// two of them inline: no allocation for a key a listing leases to one
// client. A change of a file (Registry.Changed, from the attribute
// cache's observer hooks; ChangedMany: a run of unlinks' files as one,
// under one lock, one wait per holder) revokes every lease on it and
// waits until each holder other than the caller's own client
// acknowledged, or its leases expired; the caller's own client needs no wait, because its
// revocation is sent before the change's reply on the same ordered
// stream. A change that may make an
// open fail is announced before it is made (BeginChange, change.go): the
// same revocation and wait come first (but for the caller's own leases,
// which its Changed revokes after the change: another client's change
// meanwhile then waits for the caller's acknowledgment, which follows
// the calls it posted), and the inodes (BeginNamesChange: a directory's
// names) are marked changing (fileLeases.changing, Registry.changing)
// until it ends, so that no grant is made on them meanwhile. Two clients'
// changes waiting for each other's acknowledgment, each acknowledgment
// arrived (Received) and held behind its client's own change, are
// ordered by the holders' age instead (cycle.go).
//
// Idle leases (idle.go) share a holder's ids, epochs and revocations: an
// epoll instance found with nothing ready stays so until one of the
// readiness channels the grant took closes; PollIdle, run before every
// message to the client, revokes such a lease as the holder's own. The
// registry tracks nothing of them.
//
// What it does not own: sending. A Holder queues its revocations and
// calls its kick function; the server's glue (sentry/server/readlease.go)
// takes them (Holder.Take) under the client's send lock and sends one
// LeaseRevoke, before any later message to that client. Revocations that
// the holder's own client's changes made (Taken.Own: HolderOf of the
// change's context is the holder) are waited for by nobody: their kick is
// not urgent, and the glue lets the reply of the change's call carry them
// with no acknowledgment.
//
// Dependencies: the Go standard library and package wake (a leaf that
// imports nothing; its Merge watches an idle lease's channels). It
// imports nothing else of the server, so that the attribute cache
// (goferclient) and the flat package can both reach it.
//
// Lock order: Registry.mu > Holder.mu (a holder's idle leases' lock is
// a leaf, never held with either); both are leaves with respect to
// everything outside the package (no callback, send or wait runs with
// either held), so Changed may be called with any server lock held, and
// its wait only needs the holder's session reader (Acked), which takes
// Holder.mu alone.
package readlease
