package syscalls

import (
	"encoding/binary"

	"golang.org/x/sys/unix"

	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/fdesc"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/fsimpl/inet"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/fsimpl/netlink"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/fsimpl/unixsock"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/kernel"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/socket"
)

// The interface ioctls (SIOCGIF*) on any socket: they describe the
// sandbox's network, the loopback-only netstack (--network=none) or the
// server machine's interfaces (--network=host).

// siocatmark is SIOCATMARK: is the socket at the urgent-data mark.
const siocatmark = 0x8905

// ifreqSetters are the SIOCSIF* ioctls, which change an interface.
var ifreqSetters = map[uint32]bool{
	0x8914: true, // SIOCSIFFLAGS
	0x8916: true, // SIOCSIFADDR
	0x891a: true, // SIOCSIFBRDADDR
	0x891c: true, // SIOCSIFNETMASK
	0x891e: true, // SIOCSIFMETRIC
	0x8922: true, // SIOCSIFMTU
	0x8923: true, // SIOCSIFNAME
	0x8924: true, // SIOCSIFHWADDR
	0x8943: true, // SIOCSIFTXQLEN
}

// atmark is SIOCATMARK: a TCP socket is never at an urgent mark (urgent
// data is not supported: MSG_OOB fails); other sockets do not know the
// request (ENOTTY, as UDP's on Linux).
func atmark(c *kernel.Task, f *fdesc.File, arg uint64) error {
	stream := false
	switch s := f.Impl.(type) {
	case *inet.File:
		stream = s.S.Stream
	case *inet.HostFile:
		stream = s.S.Stream
	}
	if !stream {
		return unix.ENOTTY
	}
	return c.Mem.CopyOut(arg, make([]byte, 4))
}

// isSocketFile says f is a socket of any family.
func isSocketFile(f *fdesc.File) bool {
	switch f.Impl.(type) {
	case *unixsock.File, *inet.File, *inet.HostFile, *netlink.File:
		return true
	}
	return false
}

// ifIoctl answers SIOCATMARK, SIOCGIFCONF, the single-interface
// SIOCGIF* ioctls and the refused SIOCSIF* ones (handled says req is one
// of them; Ioctl calls it first).
func ifIoctl(c *kernel.Task, f *fdesc.File, req uint32, arg uint64) (handled bool, err error) {
	if req == siocatmark {
		return true, atmark(c, f, arg)
	}
	if ifreqSetters[req] {
		if !isSocketFile(f) {
			return true, unix.ENOTTY
		}
		// The sandbox cannot change the network: the ifreq is read
		// (EFAULT first, as Linux copies it in before its checks),
		// then refused as for a caller without CAP_NET_ADMIN.
		if _, err := c.Mem.CopyIn(arg, socket.SizeofIfreq); err != nil {
			return true, err
		}
		return true, unix.EPERM
	}
	if req != socket.SIOCGIFCONF && !socket.IsIfreqIoctl(req) {
		return false, nil
	}
	if !isSocketFile(f) {
		return true, unix.ENOTTY
	}
	ifs, err := c.Kernel.Interfaces()
	if err != nil {
		return true, err
	}
	if req != socket.SIOCGIFCONF {
		ifr, err := c.Mem.CopyIn(arg, socket.SizeofIfreq)
		if err != nil {
			return true, err
		}
		var out []byte
		if c.Kernel.HostNet {
			out, err = socket.HostIfreqIoctl(req, ifr)
		} else {
			out, err = socket.IfreqIoctl(ifs, req, ifr)
		}
		if err != nil {
			return true, err
		}
		return true, c.Mem.CopyOut(arg, out)
	}
	// struct ifconf { int ifc_len; (pad); char *ifc_buf; }
	ifc, err := c.Mem.CopyIn(arg, 16)
	if err != nil {
		return true, err
	}
	n, buf := int32(binary.LittleEndian.Uint32(ifc)), binary.LittleEndian.Uint64(ifc[8:])
	if n < 0 {
		return true, unix.EINVAL
	}
	recs, length := socket.IfConf(ifs, int(n), buf == 0)
	if len(recs) > 0 {
		if err := c.Mem.CopyOut(buf, recs); err != nil {
			return true, err
		}
	}
	out := append([]byte(nil), ifc...)
	binary.LittleEndian.PutUint32(out, uint32(length))
	return true, c.Mem.CopyOut(arg, out[:4])
}
