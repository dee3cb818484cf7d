// Package anon is what the server's anonymous-inode files share (gVisor's
// vfs anonymous dentries): the file kinds over gVisor's kernel objects
// (eventfd, timerfd, signalfd, inotify, epoll, sockets) are streams with
// no byte-slice reads, stat as an anonymous inode, and block on a
// kobj.Watch until their object is ready.
//
// What it owns: Base (an anonymous inode's number and mode; immutable)
// and the inode numbers' counter (atomic); BlockOn and BlockOnUntil, the
// wait of an object's would-block operation in a call; SendAll, the
// sockets' send loop over it.
//
// Dependencies: package fdesc (the description and the call), kobj (the
// objects' readiness), proto/goferpb (Stat), gVisor's usermem. Nothing of the server
// package.
//
// Who imports it: the file kinds' packages and the server package.
//
// Lock order: no locks; BlockOn holds none while it waits.
package anon
