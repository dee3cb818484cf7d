// Package memacct is the memory account of one client's buffering kernel
// objects: each pipe reserves its capacity, each socket its receive
// buffer (SO_RCVBUF), each queued SysV message its size, so that one
// client cannot make the server hold unbounded memory with objects that
// each stay within their own limits (Config.MaxClientMemory).
//
// What it owns: the account's limit and use. The objects that charge it
// are their owners' (the server's pipes and sockets, package sysvipc).
//
// Dependencies: golang.org/x/sys/unix (errnos) only. It imports nothing
// of the server, and every layer of the server may import it.
//
// It must not import another package of the server: it is a leaf.
//
// Lock order: none; an Account and a SocketBuffers are atomic, safe to
// use under any lock.
package memacct
