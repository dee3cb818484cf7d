package server

import (
	"github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/fdesc"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/kernel"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/syscalls"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/vfs"
)

// kernelFiles is what the kernel asks of the calls above it
// (kernel.Files): a synthesized file's open for a Restore, which is
// package syscalls' (which imports the kernel), and the revocations of
// the client caches' leases a call makes, which are the front's
// (readlease.go).
type kernelFiles struct {
	k *kernel.Kernel
}

var _ kernel.Files = kernelFiles{}

// RestoreSyntheticFile is kernel.Files': a synthesized file opened
// again by path, as open(2) opens it (package syscalls' open.go), for a
// Restore.
func (kf kernelFiles) RestoreSyntheticFile(rc *kernel.Task, fs *sentrypb.FileState) (*fdesc.File, error) {
	return syscalls.RestoreSyntheticFile(kf.k, rc, fs)
}

// RevokeLeasesForWatch is kernel.Files': it revokes the client's leases
// as an added inotify watch needs (readlease.go).
func (kf kernelFiles) RevokeLeasesForWatch() { revokeLeasesForWatch(kf.k) }

// OwnedFileOpened is kernel.Files': it voids the owned claim on d, which
// a call opens (readlease.go).
func (kf kernelFiles) OwnedFileOpened(d *vfs.Dentry) { ownedFileOpened(kf.k, d) }
