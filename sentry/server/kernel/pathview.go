package kernel

import (
	"slices"

	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/auth"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/fdesc"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/vfs"
)

// PathView is what a path call's answer depends on besides the
// namespace, as it was when the call began: the caller's credentials,
// and where a relative path starts (the cwd, or dirfd's description).
// The grant fails if it changed by the end (another thread's set*id,
// chdir or dup2), and the lease names it (PathLease.creds, cwd,
// dir_file).
type PathView struct {
	Creds auth.Creds
	// Cwd is the start of a path relative to the cwd; Dir the
	// description of dirfd for one relative to it; both nil for an
	// absolute path.
	Cwd *vfs.Dentry
	Dir *fdesc.File
	// Searched are the directories the walk searched (MaySearch),
	// Found the dentries it looked up (symlinks before they were
	// followed), Final the one it ended at (NoteFinal), as the call's
	// walk goes; only the view taken when the call began has them. Set
	// by the call's goroutine alone.
	Searched, Found []*vfs.Dentry
	Final           *vfs.Dentry
}

// NoteFinal notes that the walk of v's call ended at d (v nil: the call
// keeps no view).
func (v *PathView) NoteFinal(d *vfs.Dentry) {
	if v != nil {
		v.Final = d
	}
}

// Same says whether w, taken at the end of the call, is v (the same
// start and credentials; the walk's notes are not compared).
func (v PathView) Same(w PathView) bool {
	return v.Cwd == w.Cwd && v.Dir == w.Dir && v.Creds.RUID == w.Creds.RUID && v.Creds.EUID == w.Creds.EUID &&
		v.Creds.SUID == w.Creds.SUID && v.Creds.RGID == w.Creds.RGID && v.Creds.EGID == w.Creds.EGID &&
		v.Creds.SGID == w.Creds.SGID && v.Creds.FSUID == w.Creds.FSUID && v.Creds.FSGID == w.Creds.FSGID &&
		v.Creds.Caps == w.Creds.Caps && slices.Equal(v.Creds.Groups, w.Creds.Groups)
}
