package server

import (
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/auth"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/fdesc"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/kernel"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/vfs"
)

// The client's mount namespace is package vfs's: the dentries and the
// walk, the handle pins, the attribute, listing and negative caches, the
// grafted mounts, /dev/shm and the gofer file kinds. The kernel gives it
// what it needs of the kernel (vfs.Kernel: the synthesized /dev and /proc,
// forwarded to package fsimpl/synth in ports.go, the owner of the
// descriptions, a set-id file's write), and each system call is its
// vfs.Caller
// (the handles it pins, its search permission). What stays here is the
// port by which the vfs has a set-id file's write clear its bits
// (KillPriv).

var _ vfs.Kernel = (*kernelPorts)(nil)

// KillPriv is vfs.Kernel's: the kernel's call c clears d's set-id bits
// (package kernel's write.go).
func (kp *kernelPorts) KillPriv(c fdesc.Call, d *vfs.Dentry, h uint64, a auth.FileAttrs) {
	kernel.TaskFromCall(c).KillPriv(d, h, a)
}
