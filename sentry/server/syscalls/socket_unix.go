package syscalls

import (
	"fmt"
	"sync/atomic"

	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"
	"gvisor.dev/gvisor/pkg/sentry/socket/unix/transport"

	"github.com/runsc-decoupled/runsc-decoupled/proto/goferpb"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/auth"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/fdesc"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/fsimpl/unixsock"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/kernel"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/kobj"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/socket"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/syserr"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/vfs"
)

// The client's AF_UNIX name space as the socket calls use it: the
// socket a name finds, a bind's abstract name or socket node, and the
// files SCM_RIGHTS carries.

// fileRef lets SCM_RIGHTS hold an open file description.
type fileRef struct{ f *fdesc.File }

func (r fileRef) IncRef() { r.f.IncRef() }
func (r fileRef) DecRef() { r.f.DecRef() }

// unixEndpointAt finds the socket bound at addr, for a socket of type
// stype to connect or send to: an abstract name, or a path naming a
// socket node, which the caller must be allowed to write and whose
// socket must be of stype (EPROTOTYPE), as on Linux.
func unixEndpointAt(c *kernel.Task, a socket.UnixAddr, stype linux.SockType) (transport.BoundEndpoint, error) {
	names := c.Kernel.Socks.Names()
	if a.Abstract {
		return names.LookupAbstract(a.Name)
	}
	start, err := StartDir(c, linux.AT_FDCWD, a.Name)
	if err != nil {
		return nil, err
	}
	d, err := c.Kernel.VFS.Resolve(c, start, a.Name, true)
	if err != nil {
		return nil, err
	}
	if d.Kind != vfs.KindGofer || d.Mode&unix.S_IFMT != unix.S_IFSOCK {
		return nil, unix.ECONNREFUSED
	}
	if err := c.MayAccess(d, auth.MayWrite); err != nil {
		return nil, err
	}
	be, err := names.LookupNode(d.Ino())
	if err != nil {
		return nil, err
	}
	if bf := c.Kernel.Socks.BoundFile(be); bf != nil && bf.U.Type != stype {
		return nil, unix.EPROTOTYPE
	}
	return be, nil
}

// bindUnix names s at a: an abstract name, or a new socket node made
// through the gofer at a path.
func bindUnix(c *kernel.Task, s *unixsock.File, a socket.UnixAddr) error {
	be := s.U.Bound()
	if be == nil {
		return unix.EINVAL
	}
	if err := kobj.SysErr(s.U.EP.Bind(transport.Address{Addr: a.TransportName()})); err != nil {
		return err
	}
	names := c.Kernel.Socks.Names()
	if a.Abstract {
		if err := names.BindAbstract(a.Name, be); err != nil {
			return err
		}
	} else {
		ino, abs, err := mknodSocket(c, a.Name)
		if err != nil {
			return err
		}
		names.BindNode(ino, be)
		a = socket.UnixAddr{Name: abs}
	}
	s.Mu.Lock()
	s.Named = true
	s.BoundName = a.TransportName()
	s.Mu.Unlock()
	c.Kernel.Socks.SetBound(be, s)
	return nil
}

// mknodSocket makes the S_IFSOCK node of a bind and returns its inode
// and absolute path.
func mknodSocket(c *kernel.Task, path string) (uint64, string, error) {
	dir, name, _, err := CreateAt(c, linux.AT_FDCWD, path)
	if err != nil {
		if err == unix.EEXIST {
			return 0, "", unix.EADDRINUSE
		}
		return 0, "", err
	}
	dh, err := c.HandleOf(dir)
	if err != nil {
		return 0, "", err
	}
	cr := c.ProcessCreds()
	v := c.Kernel.VFS
	ctx, cancel := v.RPCCtx()
	defer cancel()
	seen := v.RemovalsSeen()
	r, err := c.Kernel.Gofer.Mknod(ctx, &goferpb.MknodRequest{Dir: dh, Name: []byte(name), Mode: unix.S_IFSOCK | 0777&^c.Umask(),
		Uid: cr.FSUID, Gid: cr.FSGID, Origin: c.GoferOrigin(0)})
	if err := syserr.FromGofer("mknod socket "+name, r.GetErrno(), err); err != nil {
		if syserr.ErrnoOf(err) == unix.EEXIST {
			return 0, "", unix.EADDRINUSE
		}
		return 0, "", err
	}
	if r.Stat == nil {
		return 0, "", fmt.Errorf("mknod socket %q: reply without attributes: %w", name, unix.EIO)
	}
	// A re-sent bind whose socket file a later call already removed gets
	// no handle (the gofer's reply cache): the bind stands, unnamed.
	if r.Handle != nil {
		v.InsertChild(dir, name, r.Handle.Id, r.Handle.FileHandle, r.Stat, seen)
	}
	abs, _ := v.PathOf(dir)
	if abs == "/" {
		abs = ""
	}
	return r.Stat.Ino, abs + "/" + name, nil
}

// autobindNext numbers the autobind names.
var autobindNext atomic.Uint64

// autobindName picks an unused abstract name for an autobind, as Linux
// does (five hex digits).
func autobindName(k *kernel.Kernel, be transport.BoundEndpoint) (socket.UnixAddr, error) {
	names := k.Socks.Names()
	for i := 0; i < 1<<20; i++ {
		a := socket.UnixAddr{Name: fmt.Sprintf("%05x", (autobindNext.Add(1))&0xfffff), Abstract: true}
		if err := names.BindAbstract(a.Name, be); err == nil {
			return a, nil
		}
	}
	return socket.UnixAddr{}, unix.EADDRINUSE
}
