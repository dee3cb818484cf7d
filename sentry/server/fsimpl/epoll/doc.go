// Package epoll is the epoll file kind. It is written over the server's
// own readiness (fdesc.FileImpl.Readiness: events now, and a channel
// closed when they may change) rather than gVisor's vfs.EpollInstance:
// that one accepts only vfs.FileDescriptions and keeps its interest list
// private, while an epoll here must watch pipes, stdio and sockets of
// the server's own kinds, and recovery must read its interest list back
// out.
//
// What it owns: File, an instance: its interests (the description and
// fd each was added with, events, data, the one-shot and edge state and
// the ready order), under File.mu; and the claims of EPOLLEXCLUSIVE
// interests on readiness changes (one per change, for all instances).
// Reading the event structs and the wait are package syscalls' (epoll.go),
// the replay record package kernel's (kobjstate.go); the calls give each check the readiness of a
// file for the waiting thread (a signalfd's depends on it).
//
// Dependencies: fdesc (the description), fsimpl/anon (the anonymous
// inode), wake. Nothing of the server package.
//
// Who imports it: the server package, packages syscalls, kernel and
// fsimpl/synth.
//
// Lock order: File.mu is taken before the readiness locks of the files
// it watches (pipe.Pipe.mu, a nested File.mu: never an ancestor,
// EPOLL_CTL_ADD refuses loops) and inside kernel.Kernel.Mu
// when its record is built; the exclusive claims' mutex is a leaf.
package epoll
