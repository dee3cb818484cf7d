// Package durable tracks a client's writes to gofer files until they are
// on stable storage and the client may forget them (docs/ARCHITECTURE.md,
// "Recovery"): the client retains every write (a WriteState) until a
// Durable push covers it. Per file, each write (by the seq of its call)
// is in flight, written, being synced, or synced; Announce gives the
// highest seq such that every write at or below it is synced and its
// WriteState sent, which is what Durable{file, seq} promises. Before a
// size change the server marks a file's written entries synced at once:
// Supersede (a truncation to 0 removed their bytes) or StartSyncAll
// (taking those a flusher pass is syncing too), so that they are
// announced before the change is applied. A Rewrite's write that failed
// (Fail) is never announced: it holds its file's Durable below it, or,
// passed (PassFailed), is named held by each Durable above it, until
// a truncation to 0 supersedes it (passed, once the truncation is made:
// SupersedeFailed), a later write covers its range whole
// (Cover) or a Rewrite of it received again writes it (Begin, End);
// FailedAfter numbers the failures for an fsync to report each once per
// description (Linux's errseq).
//
// What it owns: the writes' states and a reference on each file with
// writes pending (a file closed before its data is durable keeps its
// gofer handle until then). The files are the server's (the type
// parameter, counted by reference); the flusher, the gofer fsyncs and the
// Durable push are package kernel's (durable.go).
//
// Dependencies: the standard library only. It imports nothing of the
// server.
//
// Who imports it: the server package and package kernel. The leaves below the subsystems
// (syserr, wake, auth, ksignal, ktimer, memacct, replay) must not.
//
// Lock order: Tracker.mu is a leaf in kernel.Kernel.Mu's order (taken with
// or without it held); references are dropped by the caller after it (End
// and Announce say when).
package durable
