// Package ksignal is the server's vocabulary of Linux signals: numbers,
// sigaction flags and si_code values, a struct sigaction (Action) and a
// process's table of them (Handlers: its dispositions, shared on
// CLONE_SIGHAND, flushed by execve and CLONE_CLEAR_SIGHAND), each
// signal's default action, the wait status of a process a signal killed,
// and the siginfo the server builds (SiginfoKill, SiginfoChld), and the
// mirror of a thread's pending set that its wait call is sent by the
// client (WaitPending). Masks, frames and delivery are the client's.
//
// What it owns: nothing of a client's state; a process's Handlers belong
// to the server's process, which decides where a signal goes (package
// kernel's signals.go, jobctl.go).
//
// Dependencies: golang.org/x/sys/unix and the standard library. It
// imports nothing of the server, and every layer of the server may
// import it.
//
// It must not import another package of the server: it is a leaf.
//
// Lock order: WaitPending.mu is a leaf; a Handlers is protected by its
// owner's lock.
package ksignal
