// Package devpts is the pseudo-terminal file kind: a description of one
// end of a terminal (package pty: the terminal and its line discipline),
// its reads and writes (blocking, the terminal's job control for a
// background reader or, with TOSTOP, writer, the signals its ISIG
// characters raise), its attributes and readiness.
//
// What it owns: File, the kind (all its fields immutable). Job control
// and signalling process groups are the kernel's, asked through the
// Kernel the file was given (package kernel's Kernel); /dev/ptmx and
// /dev/pts and an end's rebuild are package kernel's (pty.go), the
// terminal ioctls package syscalls' (pty.go), the terminal's replay
// record package pty's.
//
// Dependencies: fdesc (the description and the call), pty. Nothing of
// the server package.
//
// Who imports it: the server package, package kernel and package
// syscalls.
//
// Lock order: no locks of its own; pty.Terminal.mu is a leaf, and the
// Kernel is called without it.
package devpts
