package server

import (
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/fdesc"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/vfs"
)

// Poll event bits.
const (
	pollIn     = 0x1
	pollPri    = 0x2
	pollOut    = 0x4
	pollErr    = 0x8
	pollHup    = 0x10
	pollNval   = 0x20
	pollRdNorm = 0x40
	pollWrNorm = 0x100
)

// The file layer's types, as this package names them (package fdesc).
type (
	file      = fdesc.File
	fileImpl  = fdesc.FileImpl
	fileOwner = fdesc.Owner
)

// newFile returns a description of impl opened by d (nil: none) with
// flags; its owner is d's client.
func newFile(impl fileImpl, d *dentry, flags uint32) *file {
	var fd fdesc.Dentry
	var owner fileOwner
	if d != nil {
		fd = d
		owner = d.Owner()
	}
	return fdesc.NewFile(impl, fd, owner, flags)
}

// dentryOf returns f's dentry (nil when it has no path).
func dentryOf(f *file) *dentry { return vfs.DentryOf(f) }
