// Package socket is the remote sentry's glue over gVisor's socket
// objects: AF_UNIX endpoints of pkg/sentry/socket/unix/transport (the
// socket/unix package above it needs kernel.Kernel, so its thin part is
// redone here), and AF_INET/AF_INET6 endpoints of pkg/tcpip on a
// loopback-only netstack per client (Stack, Inet; socket/netstack needs
// kernel.Kernel too), or, with --network=host, host sockets the server
// opens (HostInet: non-blocking, their readiness reported by gVisor's
// fdnotifier; socket/hostinet needs kernel.Kernel).
//
// With --network=sandbox (sandboxnet.go, link.go) the stack also has
// one NIC per interface of the network the client brought: gVisor's
// channel link endpoint under its ethernet endpoint, whose frames a
// FrameSender carries to the client and Stack.Inbound takes from it,
// through a bounded queue each way that drops when full (one goroutine
// each per NIC).
//
// Interfaces (ifaces.go) describes a stack's or the host's network
// interfaces and answers the SIOCGIF* ioctls from that description;
// DevStats and HostDevStats (devstats.go) are their counters for
// /proc/net/dev (the NICs' tcpip.NICStats, or the host's IFLA_STATS64);
// MIB and Endpoints (netstats.go) are the stack's counters under Linux's
// SNMP names and its TCP and UDP endpoints, for /proc/net/snmp, netstat
// and sockstat.
//
// Timeouts (timeouts.go) are a socket's SO_RCVTIMEO and SO_SNDTIMEO.
//
// What it owns: the socket-address encodings (sockaddr_un), a sandbox's
// AF_UNIX name space (abstract names, and path names keyed by the
// inode of the S_IFSOCK node the server made through the gofer), and
// the control-message objects transport carries (Rights holding the
// server's open file descriptions by reference, Creds for
// SCM_CREDENTIALS and SO_PEERCRED).
//
// It knows nothing of the server's fd tables or files: a Rights holds
// Refs, which the server's files implement.
//
// Dependencies: gVisor's socket/unix/transport, tcpip (stack, loopback,
// channel and ethernet links, ipv4, ipv6, arp, tcp, udp), fdnotifier, abi/linux, usermem, waiter,
// sentry/server/kobj and sentry/server/fsimpl/netlink (Requests). Not the server package.
//
// Lock order: Names.mu is a leaf (no transport call is made with it
// held other than reading a bound endpoint's identity); so is
// Timeouts.mu. frameLink.closeMu is a leaf (held while queueing inbound
// frames; the FrameSender is called with no lock of this package held).
package socket
