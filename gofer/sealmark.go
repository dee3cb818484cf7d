package gofer

import (
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"

	"github.com/hashicorp/go-hclog"
	"golang.org/x/sys/unix"
)

// sealMarkSuffix names the marker beside the handle key file that says a
// set-id seal of that key may exist (sealMark).
const sealMarkSuffix = ".setid"

// sealMark says whether a set-id seal (setid.go) made with this gofer's
// key may exist on any file. Only storeSetID makes one, so until it first
// does, every set-id attribute a file holds is void under this key (the
// seal is an HMAC under it), and reading one can only return 0: the gofer
// then reads none (a listing read one per regular file it had not seen,
// a getxattrat nearly as dear as the entry's statx; a walk or stat one
// through /proc). A key kept in a file (--handle-key) outlives the gofer,
// so the fact does too: a marker file beside it, made durable before the
// first seal is written, tells a successor holding the key that it must
// read them. A key in memory is this gofer's alone. Safe for concurrent
// use.
type sealMark struct {
	// may is set once a seal may exist. Atomic: read at every stat of
	// a regular file.
	may atomic.Bool

	// mu serializes the marker's creation. It is a leaf lock.
	mu sync.Mutex
	// dirFD is the key file's directory, opened at the start (a
	// confined gofer can no longer reach it by path), or -1 for a key
	// in memory; name the marker's name in it. Closed by close.
	dirFD int
	name  string
}

// openSealMark returns the mark of the key kept in keyFile ("" for a key
// in memory). A marker that cannot be looked for counts as present: the
// attributes are then read, as before the mark existed.
func openSealMark(keyFile string) *sealMark {
	m := &sealMark{dirFD: -1}
	if keyFile == "" {
		return m
	}
	m.name = filepath.Base(keyFile) + sealMarkSuffix
	fd, err := unix.Open(filepath.Dir(keyFile), unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		m.may.Store(true)
		return m
	}
	m.dirFD = fd
	var st unix.Stat_t
	if err := unix.Fstatat(fd, m.name, &st, unix.AT_SYMLINK_NOFOLLOW); err != unix.ENOENT {
		m.may.Store(true)
	}
	return m
}

// mayExist reports whether a seal made with the key may exist (a nil
// mark, a Server not made by NewServer: yes).
func (m *sealMark) mayExist() bool { return m == nil || m.may.Load() }

// note records, before the first seal is written, that seals may exist:
// the marker is created and made durable, with its directory entry,
// before the caller writes the seal. A marker that cannot be made is
// logged: the seals this gofer writes then hold for it, and a successor
// with the key does not see them (the sandbox loses those set-id bits,
// as on a file system without user. attributes).
func (m *sealMark) note(log hclog.Logger) {
	if m == nil || m.may.Load() {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.may.Load() {
		return
	}
	if m.dirFD >= 0 {
		if err := m.create(); err != nil {
			log.Warn("set-id bits stored now are lost at a gofer restart: their marker cannot be made", "err", err)
		}
	}
	m.may.Store(true)
}

// create makes the marker file durable. Precondition: m.mu.
func (m *sealMark) create() error {
	fd, err := unix.Openat(m.dirFD, m.name, unix.O_WRONLY|unix.O_CREAT|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return fmt.Errorf("create %s: %w", m.name, err)
	}
	err = unix.Fsync(fd)
	unix.Close(fd)
	if err != nil {
		return fmt.Errorf("sync %s: %w", m.name, err)
	}
	if err := unix.Fsync(m.dirFD); err != nil {
		return fmt.Errorf("sync the directory of %s: %w", m.name, err)
	}
	return nil
}

// close releases the directory fd.
func (m *sealMark) close() {
	if m == nil {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.dirFD >= 0 {
		unix.Close(m.dirFD)
		m.dirFD = -1
	}
}
