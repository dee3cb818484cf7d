// Package devpts is the pseudo-terminal file kind: a description of one
// end of a terminal (package pty: the terminal and its line discipline),
// its reads and writes (blocking, the terminal's job control for a
// background reader or, with TOSTOP, writer, the signals its ISIG
// characters raise), its attributes and readiness.
//
// What it owns: File, the kind (all its fields immutable). Job control
// and signalling process groups are the kernel's, asked through the
// Kernel the file was given (the server's client state); /dev/ptmx and
// /dev/pts, the terminal ioctls and the replay record are the server's
// (file_pty.go).
//
// Dependencies: fdesc (the description and the call), pty. Nothing of
// the server package.
//
// Who imports it: the server package.
//
// Lock order: no locks of its own; pty.Terminal.mu is a leaf, and the
// Kernel is called without it.
package devpts
