// Package netlink is the AF_NETLINK socket file kind (NETLINK_ROUTE and
// NETLINK_SOCK_DIAG): each request sent is answered at once by the
// Router the socket was given for its protocol (the server's client
// state: for a route socket socket.NetlinkRoute over the client's
// netstack, or the host's route netlink with --network=host; for a
// sock_diag socket package sockdiag over the client's sockets), and the
// answers wait in a queue of datagrams for recv. The kernel's own
// datagrams (mq_notify's SIGEV_THREAD cookie, package mqueue) join the
// same queue (QueueKernel).
//
// Requests walks one send's messages as Linux's netlink_rcv_skb does (the
// route and sock_diag answerers, package socket's and package sockdiag's,
// both answer through it), and ErrorMessage is the NLMSG_ERROR both send.
//
// What it owns: File, the kind: its port and its queue of answers
// (bounded by RcvBuf: past it answers are dropped and the next recv
// fails once with ENOBUFS, as on Linux), under File.mu. The system
// calls (their addresses, msghdrs and options) and the replay record
// (the port, and the unread datagrams as answered calls left them: File's
// Queued, each change committed with its call's reply through a
// QueueRecorder) are the server's (package syscalls' socket_netlink.go, the
// kernel's kobjstate.go).
//
// Dependencies: fdesc (the description and the call), fsimpl/anon (the
// anonymous inode), kobj (the context of a copy), wake. Nothing of the
// server package.
//
// Who imports it: the server package, package kernel (its Router), and
// packages socket and sockdiag (Requests).
//
// Lock order: File.mu is a leaf: the Router is called without it.
package netlink
