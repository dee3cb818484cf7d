// Package pidfd is the pidfd file kind (pidfd_open, clone's CLONE_PIDFD):
// a descriptor that refers to one process, however its id is reused. The
// process tree is the kernel's; a pidfd holds only the process's id and
// its Exit, which the kernel gives every pidfd of the process and marks
// when the process becomes a zombie and when it is reaped. The kernel
// tells its process from a later one with the same id by that Exit.
//
// What it owns: File (immutable: the id and the Exit), Exit (its state
// atomic, its channel closed once). The system calls are package
// syscalls' (pidfd.go); the process lookup, the marks and the replay
// record the kernel's (pidfd.go, kobjstate.go).
//
// Dependencies: fdesc (the description), fsimpl/anon (the anonymous
// inode). Nothing of the server package.
//
// Who imports it: packages kernel, syscalls and fsimpl/synth (fd names,
// fdinfo).
//
// Lock order: no locks; the kernel marks an Exit under its own lock.
package pidfd
