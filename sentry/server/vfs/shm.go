package vfs

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"time"

	"golang.org/x/sys/unix"

	"github.com/runsc-decoupled/runsc-decoupled/proto/goferpb"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/syserr"
)

// /dev/shm (shm_open, sem_open, Python's multiprocessing) is a writable
// directory of the gofer's: a per-client directory "rd-shm-<hash of the
// client id>" made (mode 01777) in the gofer root's /dev/shm (a tmpfs on
// the host when the root is /), or in its /tmp if the root has no
// /dev/shm. The name follows the client id, so a restored server finds the
// same directory; its files are ordinary gofer files (mappings, replay,
// durability work as anywhere). It is removed with its contents when the
// client's state is freed (the application is over).

// shmDirName is the gofer directory that backs /dev/shm for client id.
func shmDirName(id string) string {
	sum := sha256.Sum256([]byte(id))
	return "rd-shm-" + hex.EncodeToString(sum[:8])
}

// ShmDentry returns the dentry of /dev/shm, making its directory on first
// use. The dentry holds its handle for the client's life (like the root,
// it is never evicted: its parent is synthesized, so it could not be
// walked to again).
func (v *VFS) ShmDentry() (*Dentry, error) {
	v.shmMu.Lock()
	defer v.shmMu.Unlock()
	if v.shm != nil {
		return v.shm, nil
	}
	// The directories walked through stay held (shmKeep), so that a
	// restarted gofer can find the directory by name (Graft.keep).
	ph, keep, err := v.scratchParent()
	if err != nil {
		return nil, err
	}
	fail := func(err error, hs ...uint64) (*Dentry, error) {
		v.releases.Release(append(append(hs, ph), keep...))
		return nil, err
	}
	name := shmDirName(v.clientID)
	wf, err := v.scratchDir(ph, name, &goferpb.MkdirRequest{Mode: 01777})
	if err != nil {
		return fail(err)
	}
	st := wf.Stat
	d := &Dentry{v: v, Kind: KindGofer, Mode: st.Mode, ino: st.Ino, dev: st.Dev, handle: wf.Handle.Id, fh: wf.Handle.FileHandle,
		parent: v.DevDir, name: "shm", perm: st.Mode & 07777, uid: st.Uid, gid: st.Gid}
	v.NoteAttrs(d, st)
	v.shm, v.shmParent, v.shmKeep = d, ph, keep
	return d, nil
}

// ShmIfMade returns /dev/shm's dentry, nil if it was not made yet, and
// the gofer handle it holds for the client's life.
func (v *VFS) ShmIfMade() (*Dentry, uint64) {
	v.shmMu.Lock()
	d := v.shm
	v.shmMu.Unlock()
	if d == nil {
		return nil, 0
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	return d, d.handle
}

// RemoveShm removes /dev/shm's directory and its contents (client
// teardown, after every other handle of the client was released).
func (v *VFS) RemoveShm() {
	v.shmMu.Lock()
	d, parent, keep := v.shm, v.shmParent, v.shmKeep
	v.shm, v.shmParent, v.shmKeep = nil, 0, nil
	v.shmMu.Unlock()
	if d == nil {
		return
	}
	name := d.name
	v.removeTree(d.handle, 0)
	v.releases.Release([]uint64{d.handle})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	r, err := v.gofer.Unlink(ctx, &goferpb.UnlinkRequest{Dir: parent, Name: []byte(shmDirName(v.clientID)), Flags: unix.AT_REMOVEDIR})
	cancel()
	if err := syserr.FromGofer("rmdir /dev/shm", r.GetErrno(), err); err != nil {
		v.log.Warn("removing the /dev/shm directory failed", "name", name, "err", err)
	}
	v.releases.Release(append([]uint64{parent}, keep...))
}

// maxShmDepth bounds the directories removeTree descends into.
const maxShmDepth = 16

// removeTree removes the contents of directory dir.
func (v *VFS) removeTree(dir uint64, depth int) {
	if depth > maxShmDepth {
		return
	}
	var names []string
	var dirs []bool
	for cookie := uint64(0); ; {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		r, err := v.gofer.Getdents(ctx, &goferpb.GetdentsRequest{Dir: dir, Offset: cookie, Count: 256})
		cancel()
		if syserr.FromGofer("getdents", r.GetErrno(), err) != nil || len(r.Entries) == 0 {
			break
		}
		for _, e := range r.Entries {
			cookie = e.Offset
			if name := string(e.Name); name != "." && name != ".." {
				names = append(names, name)
				dirs = append(dirs, e.Type == unix.DT_DIR)
			}
		}
	}
	for i, n := range names {
		flags := uint32(0)
		if dirs[i] {
			if wf, err := v.walkOne(dir, n); err == nil {
				v.removeTree(wf.Handle.Id, depth+1)
				v.releases.Release([]uint64{wf.Handle.Id})
			}
			flags = unix.AT_REMOVEDIR
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		r, err := v.gofer.Unlink(ctx, &goferpb.UnlinkRequest{Dir: dir, Name: []byte(n), Flags: flags})
		cancel()
		if err := syserr.FromGofer("unlink", r.GetErrno(), err); err != nil {
			v.log.Debug("removing a /dev/shm file failed", "name", n, "err", err)
		}
	}
}
