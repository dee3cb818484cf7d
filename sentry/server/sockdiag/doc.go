// Package sockdiag answers the requests of a NETLINK_SOCK_DIAG socket
// (what ss asks before it falls back to /proc/net): SOCK_DIAG_BY_FAMILY
// for AF_INET and AF_INET6 (inet_diag: TCP, UDP) and AF_UNIX
// (unix_diag), dumps and single-socket requests, and the older
// TCPDIAG_GETSOCK dump, from the same socket table the server renders
// /proc/net/{tcp,tcp6,udp,udp6,unix} from (procfs.Socket), so that the
// two never disagree.
//
// It follows Linux's net/core/sock_diag.c, net/ipv4/inet_diag.c,
// tcp_diag.c, udp_diag.c and net/unix/diag.c in what is answered and
// which errno a request gets: a family without a diag handler ENOENT, a
// short request or an unknown message type EINVAL, SOCK_DESTROY
// EOPNOTSUPP; a dump lists the sockets of the family, protocol and
// states asked for, each with the attributes asked for where the
// sandbox knows them (a unix socket's name, peer, queue lengths and
// owner). The filter bytecode a dump may carry is not run: the sockets
// of its family, protocol and states are all listed (ss filters what it
// reads again itself).
//
// What it owns: nothing; Answer is a function of the request and the
// table it is given.
//
// Dependencies: procfs (the Socket a table holds), gVisor's abi/linux,
// marshal/primitive and sentry/socket/netlink/nlmsg (message framing),
// fsimpl/netlink (Requests: the walk over one send's messages).
//
// Who imports it: package kernel, whose NETLINK_SOCK_DIAG sockets'
// netlink.Router it is.
//
// No locks.
package sockdiag
