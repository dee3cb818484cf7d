// Package unixsock is the AF_UNIX socket file kind, on gVisor's
// socket/unix/transport (package socket's Unix): a socket's description,
// its sends and receives (blocking, SO_RCVTIMEO and SO_SNDTIMEO,
// SCM_CREDENTIALS when asked, SIGPIPE), readiness and FIONREAD, and the
// mirror of a connection's queues (Conn) that recovery rebuilds a pair
// from, as the calls whose replies were built left them (a call notes its
// I/O on an IORecorder, the server's call, which commits it with its
// reply), with Linux's charge of a datagram to its sender's buffer.
//
// What it owns: File (its endpoint immutable; its name, backlog, reset
// and accept queue under File.Mu and File.ConnMu, set by the server's
// calls) and Conn (its queues under Conn.Mu). The client's name space
// (binding, lookups, the gofer's socket nodes), the system calls,
// SCM_RIGHTS's file references, Restore and the replay records are the
// server's (package syscalls' socket.go and socket_unix.go, the
// kernel's kobjstate.go); a named socket's release tells the client's
// name space through the Namespace it was given (*kernel.Kernel).
//
// Dependencies: fdesc (the description and the call), fsimpl/anon (the
// anonymous inode, blocking), kobj, socket, memacct, gVisor's transport.
// Nothing of the server package.
//
// Who imports it: the server package.
//
// Lock order: File.ConnMu (a listener's) is held across the transport's
// connect and accept; Conn.Mu nests inside kernel.Kernel.Mu
// and outside gVisor's endpoint locks; File.Mu is a leaf but for
// gVisor's own endpoint and queue locks, whose notifications take only
// kobj.Watch.mu (a leaf).
package unixsock
