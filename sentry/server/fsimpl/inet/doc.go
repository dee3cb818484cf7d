// Package inet is the AF_INET and AF_INET6 socket file kinds: File, a
// socket on the client's netstack (socket.Inet over a pkg/tcpip
// endpoint: loopback only, or the sandbox's interfaces), and HostFile, a
// socket of the server machine (socket.HostInet, --network=host). Both
// are a Common (the anonymous inode, SO_RCVTIMEO and SO_SNDTIMEO, a
// listener's backlog, a connection lost with a server) with the same
// send, receive and accept loops, readiness and option plumbing over
// their own endpoint.
//
// What it owns: the kinds and their state above (Common.mu guards the
// backlog and HostFile's SO_REUSEADDR; the lost connection and the
// timeouts have their own locks; File's charge to the client's memory
// account is memacct's); the endpoints are package socket's. The system
// calls (their arguments, addresses and msghdrs in the call's memory),
// the host sockets' option calls, Restore and the replay records are the
// server's (package syscalls' socket_inet.go and socket_host.go, the
// kernel's kobjstate.go).
//
// Dependencies: fdesc (the description and the call), fsimpl/anon (the
// anonymous inode, blocking), kobj, socket, memacct, gVisor's tcpip.
// Nothing of the server package.
//
// Who imports it: the server package.
//
// Lock order: Common.mu and the lost connection's mutex are leaves, as
// are socket.Timeouts.mu and memacct's; gVisor's endpoint and queue
// locks notify only kobj.Watch.mu (a leaf); a host socket's readiness
// comes from gVisor's fdnotifier goroutine, which takes only
// kobj.Watch.mu.
package inet
