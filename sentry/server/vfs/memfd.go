package vfs

import (
	"sync"

	"golang.org/x/sys/unix"

	"github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/fdesc"
)

// memfd_create makes a file in the client's /dev/shm directory (shm.go; the call is the kernel's)
// and unlinks it at once, so it is an ordinary gofer file that has no name:
// the gofer keeps it (silly-renamed) while it is open or mapped, so
// MAP_SHARED mappings, fork, durability and recovery (reopened by its file
// handle) work as for any gofer file. What Linux adds to a memfd, its name
// and its seals, lives in a Memfd shared by the descriptions of the
// file and is reported in FileState.memfd.

// MemfdNameMax is the longest name memfd_create accepts (NAME_MAX less
// the "memfd:" prefix).
const MemfdNameMax = 249

// MemfdSeals are the seals known here (F_SEAL_*); F_SEAL_EXEC is refused (EINVAL).
const MemfdSeals = unix.F_SEAL_SEAL | unix.F_SEAL_SHRINK | unix.F_SEAL_GROW | unix.F_SEAL_WRITE | unix.F_SEAL_FUTURE_WRITE

// Memfd is the memfd part of a gofer file made by memfd_create.
type Memfd struct {
	// Name is the name memfd_create was given. Immutable.
	Name string
	// mu protects seals. A leaf.
	mu sync.Mutex
	// seals are the file's F_SEAL_* bits; they only grow.
	seals uint32
}

// Seals returns m's seals.
func (m *Memfd) Seals() uint32 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.seals
}

// MemfdOf returns f's Memfd, nil if f is not a memfd.
func MemfdOf(f *fdesc.File) *Memfd {
	if g, ok := f.Impl.(*GoferFile); ok {
		return g.Memfd
	}
	return nil
}

// AddSeals adds seals add (known ones), unless F_SEAL_SEAL forbids it
// (EPERM) or F_SEAL_WRITE is added while a writable shared mapping exists
// (EBUSY).
func (m *Memfd) AddSeals(add uint32, mappedWritable bool) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.seals&unix.F_SEAL_SEAL != 0 {
		return unix.EPERM
	}
	if mappedWritable && m.seals&unix.F_SEAL_WRITE == 0 {
		return unix.EBUSY
	}
	m.seals |= add
	return nil
}

// NewMemfd returns the memfd part of a file memfd_create made with name
// and the seals it starts with.
func NewMemfd(name string, seals uint32) *Memfd {
	return &Memfd{Name: name, seals: seals}
}

// MergeSeals adds seals to m's (a Restore's records of the descriptions
// of one memfd).
func (m *Memfd) MergeSeals(seals uint32) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.seals |= seals
}

// CheckWrite refuses a write of n bytes at off that f's seals forbid: any
// write under F_SEAL_WRITE or F_SEAL_FUTURE_WRITE, one past the end under
// F_SEAL_GROW.
func (m *Memfd) CheckWrite(c fdesc.Call, f *fdesc.File, off int64, n int) error {
	seals := m.Seals()
	if seals&(unix.F_SEAL_WRITE|unix.F_SEAL_FUTURE_WRITE) != 0 {
		return unix.EPERM
	}
	if seals&unix.F_SEAL_GROW != 0 && n > 0 {
		st, err := f.Impl.Stat(c)
		if err != nil {
			return err
		}
		if uint64(off)+uint64(n) > st.Size {
			return unix.EPERM
		}
	}
	return nil
}

// CheckResize refuses a truncate to size that F_SEAL_SHRINK or
// F_SEAL_GROW forbid.
func (m *Memfd) CheckResize(c fdesc.Call, f *fdesc.File, size uint64) error {
	seals := m.Seals()
	if seals&(unix.F_SEAL_SHRINK|unix.F_SEAL_GROW) == 0 {
		return nil
	}
	st, err := f.Impl.Stat(c)
	if err != nil {
		return err
	}
	if (size < st.Size && seals&unix.F_SEAL_SHRINK != 0) || (size > st.Size && seals&unix.F_SEAL_GROW != 0) {
		return unix.EPERM
	}
	return nil
}

// CheckFallocate refuses what a memfd's seals forbid: punching a hole
// (F_SEAL_WRITE, F_SEAL_FUTURE_WRITE) or allocating past its end
// (F_SEAL_GROW).
func (m *Memfd) CheckFallocate(c fdesc.Call, f *fdesc.File, mode uint32, off, length int64) error {
	seals := m.Seals()
	if mode&unix.FALLOC_FL_PUNCH_HOLE != 0 {
		if seals&(unix.F_SEAL_WRITE|unix.F_SEAL_FUTURE_WRITE) != 0 {
			return unix.EPERM
		}
		return nil
	}
	// As shmem_fallocate: past the end even with FALLOC_FL_KEEP_SIZE.
	if seals&unix.F_SEAL_GROW != 0 {
		st, err := f.Impl.Stat(c)
		if err != nil {
			return err
		}
		if uint64(off+length) > st.Size {
			return unix.EPERM
		}
	}
	return nil
}

// State is a memfd's part of its description's FileState.
func (m *Memfd) State() *sentrypb.MemfdState {
	return &sentrypb.MemfdState{Name: []byte(m.Name), Seals: m.Seals()}
}
