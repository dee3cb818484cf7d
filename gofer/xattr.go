package gofer

import (
	"bytes"
	"context"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/runsc-decoupled/runsc-decoupled/proto/goferpb"
)

// The sandbox's extended attributes.
//
// The gofer serves the user. namespace of the host files as the host
// file's own user. attributes. The sandbox's trusted. and security.
// attributes are kept apart, as host user. attributes under
// sandboxNSPrefix ("trusted.x" is "user.runsc-decoupled.ns.trusted.x" on
// the host): the host's own trusted. and security. attributes carry host
// privileges or host policy (the gofer runs as root on the host) and are
// never read or written, and what the sandbox's root stores there (a
// file capability, an LSM label) means nothing to the host. A mapped
// name longer than the host's XATTR_NAME_MAX is ERANGE. The sentry
// checks the caller's privilege for them (CAP_SYS_ADMIN) and lists
// trusted. names to a privileged caller only. system. ones are ACLs the
// sentry does not enforce: EOPNOTSUPP, as any other namespace. The
// gofer's own attributes (hiddenXattrPrefix: the set-id seal,
// setIDXattr) are not the sandbox's: never listed, ENODATA to read,
// EPERM to set or remove, so an application can neither read a seal nor
// forge or drop one.
//
// As on Linux, only a regular file or a directory holds user.
// attributes (xattr_permission): on any other file a read is ENODATA, a
// change EPERM and a listing empty; so for trusted. and security. ones,
// which Linux lets a symbolic link or a device hold (their host form is
// a user. attribute). The host call goes through the
// handle's O_PATH fd's /proc/self/fd link (f*xattr refuses O_PATH fds),
// which names the inode already resolved; the file being a regular file
// or a directory, following the link is following nothing the sandbox
// made.
//
// The gofer checks no permission of the sandbox's caller: it runs as
// root and the sentry, which holds the caller's credentials, decides
// (write permission to change, read permission to read, the sticky
// directory rule).
//
// SetXattr and RemoveXattr carry an Origin: re-sent after a sentry
// restart, a call is answered from the reply cache, so an XATTR_CREATE
// that ran is not EEXIST and a removal that ran is not ENODATA the
// second time.

const (
	xattrUserPrefix     = "user."
	xattrTrustedPrefix  = "trusted."
	xattrSecurityPrefix = "security."
	hiddenXattrPrefix   = "user.runsc-decoupled."
	// sandboxNSPrefix is the host form's prefix of the sandbox's
	// trusted. and security. attributes.
	sandboxNSPrefix = hiddenXattrPrefix + "ns."
	xattrNameMax    = 255      // XATTR_NAME_MAX
	xattrSizeMax    = 64 << 10 // XATTR_SIZE_MAX
	xattrCreate     = 1        // XATTR_CREATE
	xattrReplace    = 2        // XATTR_REPLACE
	// maxListRounds bounds the listings read again because the list grew
	// between its size and its read.
	maxListRounds = 8
)

// checkXattrName returns the errno a call naming attribute name gets
// before the file is looked at, and the name's host form: ERANGE for an
// empty or too long name (its host form too), EOPNOTSUPP outside the
// user., trusted. and security. namespaces, EINVAL for a namespace's
// prefix alone.
func checkXattrName(name string) (string, error) {
	host := name
	switch {
	case name == "" || len(name) > xattrNameMax:
		return "", errorf(unix.ERANGE, "xattr name of %d bytes", len(name))
	case strings.IndexByte(name, 0) >= 0:
		return "", errorf(unix.EINVAL, "xattr name with a NUL byte")
	case name == xattrUserPrefix || name == xattrTrustedPrefix || name == xattrSecurityPrefix:
		return "", errorf(unix.EINVAL, "xattr name %q", name)
	case strings.HasPrefix(name, xattrTrustedPrefix), strings.HasPrefix(name, xattrSecurityPrefix):
		host = sandboxNSPrefix + name
	case !strings.HasPrefix(name, xattrUserPrefix):
		return "", errorf(unix.EOPNOTSUPP, "xattr %q: not in the user., trusted. or security. namespace", name)
	}
	if len(host) > xattrNameMax {
		return "", errorf(unix.ERANGE, "xattr %q: its host name %q is too long", name, host)
	}
	return host, nil
}

// hiddenXattr says whether host name hostName is one of the gofer's own
// attributes (not the host form of a sandbox's trusted. or security.
// one).
func hiddenXattr(hostName string) bool {
	return strings.HasPrefix(hostName, hiddenXattrPrefix) && !strings.HasPrefix(hostName, sandboxNSPrefix)
}

// hiddenName says whether the sandbox's name names one of the gofer's own
// attributes (a user. name under hiddenXattrPrefix).
func hiddenName(name string) bool {
	return strings.HasPrefix(name, hiddenXattrPrefix)
}

// holdsXattrs says whether a file of type ftype may hold user.
// attributes (Linux: regular files and directories).
func holdsXattrs(ftype uint32) bool {
	return ftype == unix.S_IFREG || ftype == unix.S_IFDIR
}

// GetXattr implements goferpb.GoferServer.GetXattr.
func (s *Server) GetXattr(_ context.Context, req *goferpb.GetXattrRequest) (*goferpb.GetXattrReply, error) {
	v, n, err := s.getXattr(req)
	s.log.Debug("getxattr", "handle", req.GetHandle(), "name", string(req.GetName()), "size", req.GetSize(), "err", err)
	if err != nil {
		return &goferpb.GetXattrReply{Errno: errnoOf(err)}, nil
	}
	return &goferpb.GetXattrReply{Value: v, Size: uint32(n)}, nil
}

func (s *Server) getXattr(req *goferpb.GetXattrRequest) ([]byte, int, error) {
	id, name, size := req.GetHandle(), string(req.GetName()), req.GetSize()
	host, err := checkXattrName(name)
	if err != nil {
		return nil, 0, err
	}
	h, err := s.lookup(id)
	if err != nil {
		return nil, 0, err
	}
	defer h.decRef()
	if !holdsXattrs(h.ftype) || hiddenName(name) {
		return nil, 0, errorf(unix.ENODATA, "getxattr handle %d %q", id, name)
	}
	if size > xattrSizeMax {
		size = xattrSizeMax
	}
	var buf []byte
	if size > 0 {
		buf = make([]byte, size)
	}
	n, err := retryEINTR(func() (int, error) { return unix.Getxattr(procFDPath(h.fd), host, buf) })
	if err != nil {
		return nil, 0, wrap(err, "getxattr handle %d %q", id, name)
	}
	if size == 0 {
		return nil, n, nil
	}
	return buf[:n], n, nil
}

// SetXattr implements goferpb.GoferServer.SetXattr.
func (s *Server) SetXattr(_ context.Context, req *goferpb.SetXattrRequest) (*goferpb.SetXattrReply, error) {
	return once(s, req.GetOrigin(), "setxattr", func() (*goferpb.SetXattrReply, []byte) {
		st, err := s.setXattr(req)
		s.log.Debug("setxattr", "handle", req.GetHandle(), "name", string(req.GetName()), "size", len(req.GetValue()), "flags", req.GetFlags(), "err", err)
		if err != nil {
			return &goferpb.SetXattrReply{Errno: errnoOf(err)}, nil
		}
		return &goferpb.SetXattrReply{Stat: st}, nil
	}, func(r *goferpb.SetXattrReply, _ []byte) *goferpb.SetXattrReply {
		if r.GetErrno() == 0 {
			r.Stat = s.freshStat(req.GetHandle())
		}
		return r
	}), nil
}

func (s *Server) setXattr(req *goferpb.SetXattrRequest) (*goferpb.Stat, error) {
	id, name, flags := req.GetHandle(), string(req.GetName()), req.GetFlags()
	if flags&^(xattrCreate|xattrReplace) != 0 {
		return nil, errorf(unix.EINVAL, "setxattr handle %d: flags %#x", id, flags)
	}
	host, err := checkXattrName(name)
	if err != nil {
		return nil, err
	}
	if len(req.GetValue()) > xattrSizeMax {
		return nil, errorf(unix.E2BIG, "setxattr handle %d: value of %d bytes", id, len(req.GetValue()))
	}
	h, err := s.lookup(id)
	if err != nil {
		return nil, err
	}
	defer h.decRef()
	if !holdsXattrs(h.ftype) || hiddenName(name) {
		return nil, errorf(unix.EPERM, "setxattr handle %d %q", id, name)
	}
	if _, err := retryEINTR(func() (int, error) {
		return 0, unix.Setxattr(procFDPath(h.fd), host, req.GetValue(), int(flags))
	}); err != nil {
		return nil, wrap(err, "setxattr handle %d %q", id, name)
	}
	return s.statFile(h.fd)
}

// ListXattr implements goferpb.GoferServer.ListXattr.
func (s *Server) ListXattr(_ context.Context, req *goferpb.ListXattrRequest) (*goferpb.ListXattrReply, error) {
	names, err := s.listXattr(req)
	s.log.Debug("listxattr", "handle", req.GetHandle(), "names", len(names), "err", err)
	if err != nil {
		return &goferpb.ListXattrReply{Errno: errnoOf(err)}, nil
	}
	return &goferpb.ListXattrReply{Names: names}, nil
}

func (s *Server) listXattr(req *goferpb.ListXattrRequest) ([][]byte, error) {
	id := req.GetHandle()
	h, err := s.lookup(id)
	if err != nil {
		return nil, err
	}
	defer h.decRef()
	if !holdsXattrs(h.ftype) {
		return nil, nil
	}
	p := procFDPath(h.fd)
	for round := 0; ; round++ {
		n, err := retryEINTR(func() (int, error) { return unix.Listxattr(p, nil) })
		if err != nil {
			return nil, wrap(err, "listxattr handle %d", id)
		}
		if n == 0 {
			return nil, nil
		}
		buf := make([]byte, n)
		n, err = retryEINTR(func() (int, error) { return unix.Listxattr(p, buf) })
		if err == unix.ERANGE && round < maxListRounds {
			continue // the list grew meanwhile
		}
		if err != nil {
			return nil, wrap(err, "listxattr handle %d", id)
		}
		return sandboxXattrs(buf[:n]), nil
	}
}

// sandboxXattrs returns the names of a host listing (NUL-terminated
// names) the sandbox sees: the user. ones, but for the gofer's own, and
// the sandbox's trusted. and security. ones (their host form's name).
func sandboxXattrs(list []byte) [][]byte {
	var names [][]byte
	for _, b := range bytes.Split(list, []byte{0}) {
		switch name := string(b); {
		case strings.HasPrefix(name, sandboxNSPrefix):
			names = append(names, b[len(sandboxNSPrefix):])
		case strings.HasPrefix(name, xattrUserPrefix) && !hiddenXattr(name):
			names = append(names, b)
		}
	}
	return names
}

// RemoveXattr implements goferpb.GoferServer.RemoveXattr.
func (s *Server) RemoveXattr(_ context.Context, req *goferpb.RemoveXattrRequest) (*goferpb.RemoveXattrReply, error) {
	return once(s, req.GetOrigin(), "removexattr", func() (*goferpb.RemoveXattrReply, []byte) {
		st, err := s.removeXattr(req)
		s.log.Debug("removexattr", "handle", req.GetHandle(), "name", string(req.GetName()), "err", err)
		if err != nil {
			return &goferpb.RemoveXattrReply{Errno: errnoOf(err)}, nil
		}
		return &goferpb.RemoveXattrReply{Stat: st}, nil
	}, func(r *goferpb.RemoveXattrReply, _ []byte) *goferpb.RemoveXattrReply {
		if r.GetErrno() == 0 {
			r.Stat = s.freshStat(req.GetHandle())
		}
		return r
	}), nil
}

func (s *Server) removeXattr(req *goferpb.RemoveXattrRequest) (*goferpb.Stat, error) {
	id, name := req.GetHandle(), string(req.GetName())
	host, err := checkXattrName(name)
	if err != nil {
		return nil, err
	}
	h, err := s.lookup(id)
	if err != nil {
		return nil, err
	}
	defer h.decRef()
	if !holdsXattrs(h.ftype) || hiddenName(name) {
		return nil, errorf(unix.EPERM, "removexattr handle %d %q", id, name)
	}
	if _, err := retryEINTR(func() (int, error) { return 0, unix.Removexattr(procFDPath(h.fd), host) }); err != nil {
		return nil, wrap(err, "removexattr handle %d %q", id, name)
	}
	return s.statFile(h.fd)
}

// retryEINTR runs f until it fails with another error than EINTR.
func retryEINTR(f func() (int, error)) (int, error) {
	for {
		n, err := f()
		if err != unix.EINTR {
			return n, err
		}
	}
}
