// Package wberr keeps, per file, the error of a write behind (a posted
// write or copy that failed after the application was told it
// succeeded) until an fsync, fdatasync or syncfs reports it, as Linux
// keeps a local file system's writeback error on the inode (errseq) and
// not on the description: a close does not report it, and the next
// fsync of any description of the file, even one opened after the
// error, returns it once (docs/COMPATIBILITY.md, "Pipelined calls").
//
// What it owns: the kept errno of each file, by inode number, of one
// client (sandbox). What it does not own: the description's own kept
// error (fdesc.File.WBErr), which its fsync, fdatasync, waited write or
// close reports first and which then counts as seen here too (the
// server's posted-call rule, sentry/server/posted.go).
//
// Recovery: the table is not in the replay state. A write behind whose
// reply did not reach the client before a server kill is re-sent by the
// client and fails again on the new server, keeping its error anew; one
// whose failure the client was told of was logged by the client and the
// server (with the file's path) and is not reported after a server kill.
//
// Dependencies: none but x/sys/unix. Lock order: Table.mu is a leaf.
package wberr
