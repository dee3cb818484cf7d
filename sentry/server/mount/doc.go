// Package mount is the remote sentry's mount table of one client: which
// file system is mounted where, with which flags and options, in the
// order the mounts were made. It renders /proc/<pid>/mounts and
// mountinfo's lines (procfs.Mount), parses tmpfs's mount options as
// Linux does, and converts mounts to and from their replay records
// ("mount/<id>", sentrypb.MountState); it checks the mounts a Start
// lists and its root propagation (start.go: FromStart, StartPropagation,
// with mount(2)'s limits DataMax and PropagationFlags).
//
// It owns no files: the server's vfs grafts a mount's root dentry over
// its mount point and keeps the gofer directory that holds a tmpfs's
// files (sentry/server/vfs/mount.go). A table starts with the fixed
// mounts (the gofer's root, /proc, /dev, /dev/pts), which have no
// records; the mounts made outside the sentry (do --volume, an OCI
// bundle's), /dev/mqueue, and the tmpfs and bind mounts of mount(2) are
// added to it and recorded. It keeps each mount's propagation (its
// shared peer group, its master, unbindable) as mount(2) sets it; a fixed
// mount has a record only when its propagation is not private. The
// server's vfs makes the copies that propagation asks for. It counts its
// changes (mounts, unmounts, remounts) for the poll of
// /proc/<pid>/mounts (Table.Event).
//
// The one table holds the mounts of every mount namespace (Mount.NS; 0
// is the sandbox's first, which alone has the fixed mounts' ids): ids
// and peer groups are the table's, so propagation between the peers of
// two namespaces is the ordinary one (Receivers). CopyNS makes a
// namespace's copy as Linux's copy_mnt_ns (new ids, the same files: a
// tmpfs's copy names its original's directory, Mount.SB; a fixed mount's
// copy says which it is, Mount.Fixed), RemoveNS takes out a namespace no
// process is in any more, and a mount's parent, the per-namespace bound
// MaxMounts and ListNS are of its namespace.
//
// # Dependencies
//
// proto/sentrypb (records), sentry/server/procfs (its Mount type),
// golang.org/x/sys/unix (MS_* flags and errnos).
//
// # Lock order
//
// Table.mu is a leaf: no method calls out while holding it.
package mount
