package server

import "github.com/runsc-decoupled/runsc-decoupled/sentry/server/syscalls"

// A call's arguments, as the handlers still here name them (package
// syscalls' args.go; they go as the handlers move there).
var (
	argInt   = syscalls.ArgInt
	pathArg  = syscalls.PathArg
	startDir = syscalls.StartDir
	lookupAt = syscalls.LookupAt
	createAt = syscalls.CreateAt
	fileArg  = syscalls.FileArg
	argID    = syscalls.ArgID

	resolveCreate = syscalls.ResolveCreate
)

// The socket calls' memory and the netlink socket's calls, as the socket
// calls still here name them (package syscalls' socket_msg.go and
// socket_netlink.go).
var (
	sockaddrArg      = syscalls.SockaddrArg
	putSockaddr      = syscalls.PutSockaddr
	readMsghdr       = syscalls.ReadMsghdr
	putInt           = syscalls.PutInt
	netlinkSock      = syscalls.NetlinkSock
	netlinkCall      = syscalls.NetlinkCall
	newNetlinkSocket = syscalls.NewNetlinkSocket
)

type msghdr = syscalls.Msghdr
