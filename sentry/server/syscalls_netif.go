package server

import (
	"encoding/binary"

	"golang.org/x/sys/unix"

	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/fsimpl/inet"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/fsimpl/netlink"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/fsimpl/unixsock"
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
func atmark(c *syscallCtx, f *file, arg uint64) error {
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
func isSocketFile(f *file) bool {
	switch f.Impl.(type) {
	case *unixsock.File, *inet.File, *inet.HostFile, *netlink.File:
		return true
	}
	return false
}

// interfaces describes the sandbox's network interfaces.
func interfaces(k *clientState) ([]socket.Interface, error) {
	if hostNetwork(k) {
		ifs, err := socket.HostInterfaces()
		if err != nil {
			k.Log.Warn("cannot list the host's interfaces", "err", err)
			return nil, unix.EIO
		}
		return ifs, nil
	}
	st, err := netStack(k)
	if err != nil {
		return nil, err
	}
	return st.Interfaces(), nil
}

// devStats are the counters of the sandbox's interfaces by index: the
// netstack's, or with --network=host the server machine's.
func devStats(k *clientState) (map[int32]socket.DevStats, error) {
	if hostNetwork(k) {
		st, err := socket.HostDevStats()
		if err != nil {
			k.Log.Warn("cannot read the host's interface counters", "err", err)
			return nil, unix.EIO
		}
		return st, nil
	}
	st, err := netStack(k)
	if err != nil {
		return nil, err
	}
	return st.DevStats(), nil
}

// ifIoctl answers SIOCGIFCONF and the single-interface SIOCGIF* ioctls
// (handled says req is one of them).
func ifIoctl(c *syscallCtx, f *file, req uint32, arg uint64) (handled bool, err error) {
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
	ifs, err := interfaces(c.Kernel)
	if err != nil {
		return true, err
	}
	if req != socket.SIOCGIFCONF {
		ifr, err := c.Mem.CopyIn(arg, socket.SizeofIfreq)
		if err != nil {
			return true, err
		}
		var out []byte
		if hostNetwork(c.Kernel) {
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
