// Package signalfd is the signalfd file kind. A signalfd splits as
// signals do: the pending signals and masks are the client's (it queues
// what the server routes and dequeues them when the application reads),
// while the descriptor and its mask are the server's, so that dup, fork,
// exec, close-on-exec and recovery treat it as any other file.
//
// What it owns: File, the kind: its mask (under File.mu), the thread
// that last read or waited on it (atomic) and the notifier of mask
// changes; a read's answer is the client's, asked through the Reader
// the file was given (kernel.SignalfdClient: a SignalfdRead reply
// action). The system calls are package syscalls' (signalfd.go); the
// routing of signals to a signalfd's reader and the waits' pending sets
// package kernel's (signals.go, signalfd.go); the replay record the
// kernel's (kobjstate.go).
//
// Dependencies: fdesc (the description and the call), fsimpl/anon (the
// anonymous inode), wake. Nothing of the server package.
//
// Who imports it: the server package, packages kernel and syscalls.
//
// Lock order: File.mu is a leaf; the server reads a mask under its fd
// table's lock when it routes a signal.
package signalfd
