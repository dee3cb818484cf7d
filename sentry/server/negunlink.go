package server

import (
	"golang.org/x/sys/unix"

	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/readlease"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/vfs"
)

// The negative unlink (docs/ARCHITECTURE.md, "The client's path cache"):
// an unlink or unlinkat (flags 0) that fails with ENOENT gets a path
// lease when its client asks, like a stat's failure, so that the client
// answers the same unlink again, and, when the name is missing from a
// directory the walk reached and the caller may make names there
// (PathLease.creatable), posts an open that creates it
// (sentry/client/postcreate.go). Its keys are the walk's searches and
// the missing names of that directory alone: a name made there, by any
// client, revokes the lease. The unlink handler notes that directory
// (package syscalls' namei.go: unlinkMissing, kernel.Task.MissingIn).

// unlinkLeasable says whether a call that failed with errno e may have
// its answer leased: for unlink and unlinkat only ENOENT (a success is
// never repeated; other failures may depend on what no lease covers).
func unlinkLeasable(sysno int32, e unix.Errno) bool {
	if sysno != unix.SYS_UNLINK && sysno != unix.SYS_UNLINKAT {
		return true
	}
	return e == unix.ENOENT
}

// missingKeys returns the keys of the answer of a walk whose last name
// was found missing in dir: the directories it searched and files it
// found, then dir's missing names.
func missingKeys(v *pathView, dir *vfs.Dentry) []readlease.Key {
	var s keySet
	s.add(readlease.PathSearch, v.Searched...)
	s.add(readlease.PathSearch, v.Found...)
	s.add(readlease.PathNames, dir)
	return s.keys
}

// pathKinds returns the PathLease.kinds and inos of keys.
func pathKinds(keys []readlease.Key) (kinds []uint32, inos []uint64) {
	kinds, inos = make([]uint32, len(keys)), make([]uint64, len(keys))
	for i, k := range keys {
		kind, _ := readlease.PathKindOf(k)
		kinds[i], inos[i] = uint32(kind), k.Ino
	}
	return kinds, inos
}
