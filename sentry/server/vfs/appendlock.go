package vfs

import "sync"

// appendStripes is the number of locks O_APPEND writes are ordered by
// (VFS.appendLocks).
const appendStripes = 64

// AppendLock returns the lock an O_APPEND write to d's file holds from
// finding the file's end to writing there: without it two descriptions
// (two threads or processes of the client) appending at once find the
// same end and one write covers the other, where Linux appends each
// whole. The lock is the file's, by device and inode number, so hard
// links share it; files share a lock by stripe. Appends by another
// client of the gofer are not ordered with these (as NFS's are not).
func (v *VFS) AppendLock(d *Dentry) *sync.Mutex {
	h := d.dev*0x9e3779b97f4a7c15 ^ d.ino
	return &v.appendLocks[h%appendStripes]
}
