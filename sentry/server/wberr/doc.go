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
// Recovery: each kept error is a replay record of its own ("wberr/<ino>",
// Record; Restore takes them back), so that after a server kill the
// next fsync still reports it, once. The server touches the record when
// an error is kept (with the failed call's reply), and, when a call
// reports it, has the record's deletion go with that call's reply only
// (kernel.CallEffects.WBErrInos): a call re-sent because its reply was
// lost finds the error again. A write behind whose reply did not reach
// the client before a server kill is re-sent and fails again, keeping
// its error anew.
//
// Dependencies: x/sys/unix, proto/sentrypb, sentry/statekey. Lock order:
// Table.mu is a leaf.
package wberr
