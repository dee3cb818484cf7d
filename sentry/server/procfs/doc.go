// Package procfs renders the remote sentry's /proc: the names in each
// /proc directory that do not depend on live objects (the top level, a
// process's directory, a thread's directory, /proc/sys), and the text of
// every synthesized file, in Linux's formats (/proc/net/dev and if_inet6
// from the interfaces the Source lists; sockstat, snmp, netstat and
// their IPv6 twins from its NetStats, in Linux 6.1's names).
//
// It owns no state. What a file shows comes from a Source, which the
// server implements over its kernel state (processes, threads, fds,
// mounts) and over facts only the client knows (its address spaces, what
// its threads are doing, its machine), which the server asks the client
// for with a ProcQuery push. The server keeps the dentries and the
// directories whose entries are live objects (/proc/<pid>, fd/, task/).
//
// Dependencies: proto/sentrypb (MachineInfo), sentry/sysabi (the kernel
// release) and golang.org/x/sys/unix (errnos). It must not import the server (the server imports it). No
// locks.
package procfs
