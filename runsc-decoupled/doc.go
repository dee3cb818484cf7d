// Command runsc-decoupled runs unmodified Linux programs in a thin client
// sentry whose kernel state lives in a remote sentry, which reaches files
// only through a gofer.
//
// Subcommands:
//
//	do      run a command (embedded sentry and gofer by default)
//	server  the remote sentry daemon
//	gofer   the file server daemon
//	debug   inspect a running server
//
// and runc's command line for containerd and Kubernetes (oci.go: create,
// start, state, kill, delete, run, exec, ps, list, spec, features, with
// runc's global flags before the verb); ociboot.go is the long-lived
// container process and exec process those verbs start.
//
// This is the top layer: it wires sentry/client, sentry/server, gofer and
// transport together and parses flags. Each daemon, once it listens,
// confines itself before serving anyone: namespaces.go (its own mount,
// IPC, UTS and network namespaces, entered by unshare and exec of
// /proc/self/exe or given by do, and a pivot into a root holding only
// what it needs), then harden.go (no_new_privs, capabilities, its seccomp
// filter from package filter). Before that, each daemon gives the Go
// runtime's sysmon thread a millisecond of timer slack (sysmon.go), so
// that a daemon woken by every call does not also wake sysmon every
// 20 µs. do puts the sandbox's host processes in a cpu cgroup of their
// own, a child of its cgroup, so that a busy host schedules a forwarded
// call's hand-offs as one group's (sandboxcgroup.go); a container's
// process joins its linux.cgroupsPath instead (ocicgroup.go). Nothing
// imports it.
package main
