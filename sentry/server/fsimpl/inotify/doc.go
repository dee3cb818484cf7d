// Package inotify is the inotify file kind, on gVisor's vfs.Inotify
// (kobj.Inotify): an instance's description, its watches with the dentry
// each watches (for its replay record and fdinfo), its reads of the
// event queue and its readiness; and a client's watched inodes
// (Targets), one kobj.InotifyTarget per inode number while it has
// watches.
//
// What it owns: File (its kobj.Inotify is immutable; the watches'
// dentries are under File.mu) and Targets (under Targets.mu; the count
// of targets is atomic). Which file operation reports which event and
// the replay record are package kernel's (inotify.go), the calls
// (inotify_init, inotify_add_watch, inotify_rm_watch) package syscalls'
// (inotify.go): only this client's operations through this server are
// seen.
//
// Dependencies: fdesc (the description, the call, a watch's Dentry),
// fsimpl/anon (the anonymous inode, blocking), kobj. Nothing of the
// server package.
//
// Who imports it: the server package, package kernel and package
// syscalls.
//
// Lock order: File.mu is taken before kobj.Inotify's locks (listing the
// watches); Targets.mu is a leaf: gVisor is never called with it held,
// and a target's last watch going removes it with Targets.mu taken then.
// Events reach the watches' queues, whose notifications take only
// kobj.Watch.mu.
package inotify
