// Package mapped is the table of the files a client maps (exec images,
// mmap): each gets an id the client's page cache is keyed by, the same
// for every mapping of the same unchanged contents (Key: device, inode,
// size, mtime), kept while the client holds references (one per id
// handed out, dropped by FileRelease) and remembered after, so that the
// client, which keeps the pages of files it no longer maps, finds them
// again. A file mapped shared from a writable description keeps that
// description for PageWrite. AddFresh says when an id is new (neither
// mapped nor remembered), so the client holds none of its pages and the
// plan may carry them (the kernel's FirstPages).
//
// What it owns: the ids, their references and versions. The
// descriptions are the server's (the type parameter, counted by
// reference); the replay record of an id (mapped/<id>), PageRead,
// PageWrite and the plans that hand ids out are the server's (exec.go).
//
// Dependencies: golang.org/x/sys/unix only. It imports nothing of the
// server; the server passes its replay hook in.
//
// Who imports it: the server package. The leaves below the subsystems
// (syserr, wake, auth, ksignal, ktimer, memacct, replay) must not.
//
// Lock order: Table.mu is a leaf in kernel.Kernel.Mu's order (taken with or
// without it held); descriptions are released (DecRef, which may call the
// gofer) after it is dropped, and the changed hook (replay.Tracker.mu, a
// leaf) is called under it.
package mapped
