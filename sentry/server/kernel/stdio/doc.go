// Package stdio is the state behind a client's standard streams: the
// buffered stdin of a stdio set (Stdin), the terminal the set's streams
// are connected to (TTY), and a spawned process's set (Set). The
// client's own streams are set 0; the OCI runtime's exec adds more.
//
// What it owns: a stream's stdin buffer with its stream positions (what
// the client sent, what the application's reads consumed: the replay
// record's read count, committed with the reply of the read, and the
// duplicates of data re-sent after a Restore), whether a StdinWant is
// outstanding, and the terminal's termios, window size, foreground
// process group and session. The rules: a read takes buffered bytes
// first, then an EOF answer once as a zero-byte read; data beyond the
// buffer's bound is dropped.
//
// What it does not own: the stdio file description (the kernel's
// stdioFile), sending StdinWant (the caller is told to ask), job control
// and the signals of a resize (the kernel's), the records' encoding.
//
// Dependencies: wake (the waiters of a Stdin), proto/sentrypb (a set's
// StdioInfo). It must not import the server or the replay capture.
//
// Who imports it: the server package (its kernel).
//
// Lock order: Stdin.mu is a leaf, taken inside the kernel lock
// (kernel.Kernel.Mu) or with no lock. A TTY's fields are protected by the
// kernel lock; a Set's ID and Info are immutable, its Files atomic.
package stdio
