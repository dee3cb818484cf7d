package kobj

import (
	"fmt"
	"sync"

	"gvisor.dev/gvisor/pkg/context"
	"gvisor.dev/gvisor/pkg/sentry/vfs"
)

var (
	vfsOnce sync.Once
	vfsObj  *vfs.VirtualFilesystem
	vfsErr  error
)

// Ctx is the context gVisor code runs with in the server: a background
// context (gVisor's logging, anonymous credentials). Objects that need a
// caller's credentials get them explicitly.
func Ctx() context.Context { return context.Background() }

// VFS returns the server's VirtualFilesystem, used only for anonymous
// file descriptions (eventfd): paths are the server's own VFS, not
// gVisor's.
func VFS() (*vfs.VirtualFilesystem, error) {
	vfsOnce.Do(func() {
		v := &vfs.VirtualFilesystem{}
		if err := v.Init(Ctx()); err != nil {
			vfsErr = fmt.Errorf("init gVisor VFS: %w", err)
			return
		}
		vfsObj = v
	})
	return vfsObj, vfsErr
}
