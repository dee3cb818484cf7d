// Package vfs is a client's mount namespace in the remote sentry, below
// its kernel, as gVisor's vfs with fsimpl/gofer's dentry cache: the tree
// of dentries over the gofer's files, the path walk (symlinks, "..",
// mount points, Linux's errnos for each step), and /dev and /proc as
// directories whose files the kernel synthesizes.
//
// # What it owns
//
//   - Dentry: a node of the tree, gofer-backed (KindGofer) or synthesized
//     (the other kinds, made by the Kernel's lookups with NewSynthDentry:
//     the remote sentry's are package fsimpl/synth's).
//     A gofer dentry caches its children by name (trusted until another
//     client removes a name in it: goferclient.AttrCache.RemovedSince),
//     names found missing
//     (negative entries, believed for NegativeTTL or until a call of this
//     server may have made a name in that directory:
//     goferclient.AttrCache.NamesMadeIn), its
//     symlink target, its attributes for permission checks (NoteAttrs,
//     AttrsOf) and those a directory listing gave (NoteListing, trusted
//     while the attribute cache says no change went through since and
//     for goferclient.AttrTTL), and, for a directory a listing found
//     over its caller's bound, that it is (NoteTooBig: for a life, less
//     the names removed from it through this namespace).
//   - the gofer handles of the dentries (handles.go): at most
//     MaxDentryHandles per client, least recently used first out in
//     batches of EvictBatch; a system call pins those it uses
//     (Caller.HandleOf, PinHandle/Unpin); an evicted dentry keeps its
//     place and walks to a new handle from its parent when needed.
//   - kept handles (kept.go): the gofer handle of a read-only
//     description, kept on its dentry at release for the next
//     read-only open while the gofer confirmed the name less than
//     goferclient.AttrTTL ago and no change went through the server
//     since; at most MaxKeptHandles per client.
//   - the walk (Resolve, ResolveParent, LookupChild, FollowLink,
//     FollowLinkParent for O_CREAT's last component, Readlink,
//     StatDentry), fresh handles for open file descriptions
//     (FreshHandle, OpenRegular, HandleForOpen, ReopenHandle) and the
//     cache's updates after a change (InsertChild, Forget, Moved);
//     a ScopedCaller's walks are checked against openat2's RESOLVE_*
//     flags, and a RootedCaller's absolute paths start at its chroot(2)
//     root, where ".." stops (resolvescope.go); PathOf, and PathUnder
//     and PathFrom of a path from such a root (getcwd, /proc's links).
//   - mount namespaces: a mount is grafted once per namespace that has
//     it (Graft.NS; a namespace's copy shares its original's root and
//     point dentries and gofer directory), and a walk crosses the mounts
//     of its Caller's namespace (NamespacedCaller; 0 without one).
//   - the mount table (package mount: VFS.Mounts) and the mounts grafted
//     onto the tree (mount.go: tmpfs mounts as per-client gofer
//     directories, bind mounts as a second dentry of their source,
//     /dev/mqueue, whose entries package synth makes from the client's
//     queues), and /dev/shm, a per-client gofer directory
//     (shm.go), with their removal when the client goes.
//   - the gofer I/O helpers the file kinds share (gofer.go: reads and
//     writes in RPCs of at most MaxGoferIO, stat, fsync), and a
//     thread's plan of writes ahead (writeahead.go: WriteAhead, which
//     its worker owns: a run of queued posted writes in one pwritev).
//
// # What it depends on
//
// The layers below: goferpb and goferclient (the gofer connection, the
// release queue, the attribute cache), mount, procfs (a synthesized
// dentry's procfs scope), fdesc (a description's Call and Owner), auth,
// syserr. What it needs of the kernel above it it is given (Config): a
// Kernel (the synthesized files: their lookups, links, stats, and a
// process's owner for /proc/<pid>; and the owner of the descriptions
// opened on its dentries, Dentry.Owner) and, per walk, the Caller (the
// system call: its pins and its search permission; a WalkObserver is told
// of each dentry the walk looks up). It never imports the kernel.
//
// # Lock order
//
//	VFS.appendLocks (an O_APPEND write's, from finding the file's end
//	                to writing there: held across gofer RPCs, taken
//	                under the description's OffMu; AppendLock)
//	VFS.MntMu      (mount, umount2 and their replay; held across gofer
//	                RPCs; the kernel may take its own lock under it)
//	  VFS.shmMu    (making /dev/shm's directory; held across gofer RPCs)
//	    VFS.mu     (the dentry tree and the handle cache: never held
//	                across a gofer RPC or a call of the Kernel; the
//	                kernel takes it under its own lock)
//	      goferclient.AttrCache's mu (a leaf: NamesMadeIn)
//	      goferclient.ReleaseQueue's mu (a leaf: a kept handle's
//	                release, kept.go)
//
// The Kernel's methods are called with none of these held but MntMu.
package vfs
