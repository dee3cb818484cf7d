// Package attrrun merges consecutive attribute changes of one file into
// one gofer SetStat (docs/ARCHITECTURE.md, "Posted calls in batches"):
// tar restores each member's owner, mode and times with chown, chmod and
// utimensat, three posted calls that arrive together, and each was a
// serial gofer round trip that the thread's next waited call queued
// behind.
//
// What it owns: the rule saying when two SetStatRequests applied one
// after the other may travel as one (Merge), and a run's held changes of
// one file with each call's own request (Pending), which the server
// sends merged or, when the merged call fails, one by one, so that each
// call's result is what it would have been alone.
//
// What it does not own: deciding which calls form a run, permission
// checks, the dentries the changes are for, replies. The server's glue
// (sentry/server/attrrun.go) holds a posted call's change while the
// thread's next call is another posted attribute call (waiting briefly
// for it when the thread has none queued), and sends the held changes
// before anything reads the file's attributes and before the run's
// replies.
//
// Dependencies: proto/goferpb and the standard library.
//
// Lock order: none; a Pending belongs to one thread's worker.
package attrrun
