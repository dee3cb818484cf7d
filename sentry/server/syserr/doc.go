// Package syserr is how the server's errors become the errno the
// application sees: handlers return Go errors wrapping a unix.Errno
// (with context), and ErrnoOf maps them at the one dispatch boundary;
// FromGofer turns a gofer reply's errno or RPC failure into such an
// error; the kernel-internal restart errnos (RestartSys...) are what an
// interrupted blocking call returns, for the client to restart or fail
// with EINTR; KeepOutputs marks a failure whose memory writes still
// reach the application.
//
// What it owns: nothing but these rules.
//
// Dependencies: golang.org/x/sys/unix and the standard library. Every
// layer of the server may import it; it imports nothing of the server.
//
// It must not import another package of the server: it is a leaf.
//
// Lock order: none.
package syserr
