// Package synth is a client's synthesized /dev and /proc: the files the
// remote sentry serves from its own state rather than from the gofer
// (gVisor's fsimpl/dev and fsimpl/proc).
//
// # What it owns
//
//   - /dev: the devices the sentry serves itself (null, zero, full,
//     random, urandom, tty, ptmx and its pts/ directory of the client's
//     terminals), the nodes of Hello.devices (CheckDevNodes: a node of a
//     device the sentry serves opens as that device, DevKindOfMinor; any
//     other is for the kernel to refuse), the fixed symlinks (fd, stdin,
//     ...), and /dev/shm and /dev/mqueue, which are the vfs's
//     (/dev/mqueue's entries are this package's: the client's POSIX
//     message queues, looked up, listed and stat'ed in the kernel's
//     mqueue.Registry at each call, never cached);
//   - /proc: self and thread-self, a directory per process and per
//     thread (task/), the magic links cwd, exe and fd/<n> (MagicTarget:
//     they name the file itself; FilePath: the text they show), fdinfo,
//     and every file of package procfs, rendered from the kernel's
//     procfs.Source when opened and again at each read at offset 0
//     (ProcFile; /proc/<pid>/mounts and mountinfo poll the mount
//     table's changes; pagemap, procfs.Ranged, is read by range at each
//     read);
//   - the synthesized dentries' attributes (Stat; their times are the
//     client host's boot, BornNs) and listings (List).
//
// # What it depends on
//
// package vfs (the dentries it makes with vfs.NewSynthDentry, the
// namespace's /dev/shm and /dev/mqueue), procfs, mqueue (the queues
// /dev/mqueue shows, Kernel.Mqueues), pty (the terminals'
// table), fdesc and the file kinds whose names /proc shows. What it reads
// of the kernel (its processes, threads, fd tables and working
// directories, the names of the kernel's own file kinds, a call's ids,
// the procfs source) it asks of the Kernel it is given, which is the
// remote sentry's client state; the vfs reaches the file system through
// its own vfs.Kernel, which the client state forwards here.
//
// # Lock order
//
// An FS has no lock of its own; a ProcFile's mu (its content) is a leaf.
// The Kernel's methods take the kernel's lock themselves and are called
// with no lock held (never under the vfs's mu).
package synth
