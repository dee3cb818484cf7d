package vfs

import (
	"crypto/rand"

	"golang.org/x/sys/unix"

	"github.com/runsc-decoupled/runsc-decoupled/proto/goferpb"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/fdesc"
)

// LostFile stands for a gofer file a restored server could not reopen
// (removed while the gofer restarted): every operation fails with ESTALE,
// as on an NFS client whose file handle went stale.
type LostFile struct {
	fdesc.FileBase
	// FH and Path are the file's gofer file handle and its last path, for
	// its record. Immutable.
	FH   []byte
	Path string
}

func (*LostFile) Read(fdesc.Call, *fdesc.File, int, int64) ([]byte, error)  { return nil, unix.ESTALE }
func (*LostFile) Write(fdesc.Call, *fdesc.File, []byte, int64) (int, error) { return 0, unix.ESTALE }
func (*LostFile) Stat(fdesc.Call) (*goferpb.Stat, error)                    { return nil, unix.ESTALE }

// DevFile is /dev/null, /dev/zero, /dev/full, /dev/urandom or /dev/random.
type DevFile struct {
	fdesc.FileBase
	// Kind and D are immutable.
	Kind DevKind
	D    *Dentry
}

func (f *DevFile) Read(_ fdesc.Call, _ *fdesc.File, n int, _ int64) ([]byte, error) {
	switch f.Kind {
	case DevNull:
		return nil, nil
	case DevRandom:
		b := make([]byte, n)
		rand.Read(b)
		return b, nil
	}
	return make([]byte, n), nil
}

func (f *DevFile) Write(_ fdesc.Call, _ *fdesc.File, b []byte, _ int64) (int, error) {
	if f.Kind == DevFull {
		return 0, unix.ENOSPC
	}
	return len(b), nil
}

func (f *DevFile) Stat(c fdesc.Call) (*goferpb.Stat, error) { return f.D.VFS().StatDentry(c, f.D) }

// PathFile backs O_PATH descriptions and directories of the synthetic
// filesystems: no I/O, only a dentry.
type PathFile struct {
	fdesc.FileBase
	D *Dentry // immutable
}

func (f *PathFile) Read(fdesc.Call, *fdesc.File, int, int64) ([]byte, error) { return nil, unix.EISDIR }

func (f *PathFile) Stat(c fdesc.Call) (*goferpb.Stat, error) {
	return f.D.VFS().StatDentry(c, f.D)
}
