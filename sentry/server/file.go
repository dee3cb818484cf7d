package server

import (
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/fdesc"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/vfs"
)

// The file layer's types, as this package names them (package fdesc).
type (
	file      = fdesc.File
	fileImpl  = fdesc.FileImpl
	fileOwner = fdesc.Owner
)

// dentryOf returns f's dentry (nil when it has no path).
func dentryOf(f *file) *dentry { return vfs.DentryOf(f) }
