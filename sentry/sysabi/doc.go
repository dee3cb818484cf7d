// Package sysabi is the contract between the thin client sentry and the
// remote sentry about system-call memory: which application memory each
// forwarded system call reads (its by-reference inputs), and a view of that
// memory on the server side.
//
// The client copies every input a forwarded call may read out of the
// application's address space (Inputs) and sends it with the call; the
// server executes the call against a Memory holding exactly those regions
// and records what it writes (the by-reference outputs), which the reply
// carries back. Both sides therefore agree on the layout of every call
// without the server ever touching the client's memory, and the client's
// syscall log holds everything replay needs.
//
// It also holds the checks whose answer the client gives from what it
// keeps and the server decides with the same code: the permission check
// of a file's mode (perm.go); and clone3's struct clone_args, which the
// server checks and the client reads the child's stack, TLS and tid
// words from (clone3.go).
//
// Dependencies: gVisor's pkg/abi/linux and pkg/hostarch only. Both sentries
// import this package; it imports neither.
package sysabi
