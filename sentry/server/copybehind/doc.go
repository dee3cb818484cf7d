// Package copybehind applies a sendfile or copy_file_range whose bytes
// the client read from its read lease of the in file and sent with the
// call (Syscall.leased_data; docs/COMPATIBILITY.md, "Pipelined calls"):
// the bytes are written to the out file instead of being read from the
// in file, and the in file's offset moves past them.
//
// The bytes travel with the call, rather than the server reading them
// later, because a posted call runs after the application was told its
// count: another client may have changed the in file by then (its
// change revokes the lease, but the change is already made when the
// revocation goes out), so only the bytes the lease showed when the
// application made the call are what the application was told it
// copied. Recovery re-sends the same bytes.
//
// What it owns: the rule of such a copy. A posted one moves the in
// offset by every byte carried (what the application was told), keeps
// the write's failure on the out description (fdesc.File.WBErr) as a
// write behind's (not a pipe's: its next write meets the failure
// itself), and writes nothing when the out description already failed; a waited one (which the client does not send, but a peer
// may) moves the offset only past what was written, as sendfile does.
// What it does not own: checking the descriptions (the server's
// sendfile and copy_file_range handlers do, as for any call) and the
// write itself (a function it is given, which tracks durability and
// reports the write's record).
//
// Dependencies: fdesc, syserr. Lock order: it takes the in
// description's fdesc.File.OffMu alone, never across the write.
package copybehind
