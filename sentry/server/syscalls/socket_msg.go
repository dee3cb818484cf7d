package syscalls

import (
	"encoding/binary"

	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/usermem"

	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/kernel"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/kobj"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/sysabi"
)

// The socket calls' memory: the addresses they take and give back, and
// struct msghdr.

// sockaddrArg reads the socket address at args[i] of length args[i+1].
func sockaddrArg(c *kernel.Task, i int) ([]byte, error) {
	n := int64(int32(c.Args[i+1]))
	if n < 0 || n > 128 {
		return nil, unix.EINVAL
	}
	return c.Mem.CopyIn(c.Args[i], int(n))
}

// putSockaddr writes a socket address to (addr, lenAddr) as accept,
// recvfrom, getsockname and getpeername do: truncated to the buffer, the
// full length in *lenAddr.
func putSockaddr(c *kernel.Task, addr, lenAddr uint64, sa []byte) error {
	if addr == 0 || lenAddr == 0 {
		return nil
	}
	lb, err := c.Mem.CopyIn(lenAddr, 4)
	if err != nil {
		return err
	}
	l := int32(binary.LittleEndian.Uint32(lb))
	if l < 0 {
		return unix.EINVAL
	}
	if int(l) > len(sa) {
		l = int32(len(sa))
	}
	if err := c.Mem.CopyOut(addr, sa[:l]); err != nil {
		return err
	}
	binary.LittleEndian.PutUint32(lb, uint32(len(sa)))
	return c.Mem.CopyOut(lenAddr, lb)
}

// msghdr is struct msghdr.
type msghdr struct {
	name       uint64
	namelen    uint32
	iov        uint64
	iovlen     uint64
	control    uint64
	controllen uint64
}

// readMsghdr reads the struct msghdr at addr and its iovecs, each
// clamped so that they total at most maxRW.
func readMsghdr(c *kernel.Task, addr uint64) (msghdr, []sysabi.Iovec, error) {
	b, err := c.Mem.CopyIn(addr, sysabi.SizeofMsghdr)
	if err != nil {
		return msghdr{}, nil, err
	}
	h := msghdr{
		name: binary.LittleEndian.Uint64(b), namelen: binary.LittleEndian.Uint32(b[8:]),
		iov: binary.LittleEndian.Uint64(b[16:]), iovlen: binary.LittleEndian.Uint64(b[24:]),
		control: binary.LittleEndian.Uint64(b[32:]), controllen: binary.LittleEndian.Uint64(b[40:]),
	}
	if h.iovlen > sysabi.MaxIovecs {
		return h, nil, unix.EMSGSIZE
	}
	var iov []sysabi.Iovec
	if h.iovlen > 0 {
		if iov, err = c.Mem.CopyInIovecs(h.iov, int(h.iovlen)); err != nil {
			return h, nil, err
		}
	}
	total := uint64(0)
	for i := range iov {
		if int64(iov[i].Len) < 0 {
			return h, nil, unix.EINVAL
		}
		if total+iov[i].Len > maxRW {
			iov[i].Len = maxRW - total
		}
		total += iov[i].Len
	}
	return h, iov, nil
}

// putInt is v as an int option value.
func putInt(v int32) []byte { return binary.LittleEndian.AppendUint32(nil, uint32(v)) }

// putMsgResult writes what recvmsg returns in the msghdr at addr besides
// the data and the control messages: msg_namelen, msg_controllen and
// msg_flags.
func putMsgResult(c *kernel.Task, addr uint64, namelen uint32, controllen uint64, msgFlags uint32) error {
	var b [8]byte
	binary.LittleEndian.PutUint32(b[:], namelen)
	if err := c.Mem.CopyOut(addr+8, b[:4]); err != nil {
		return err
	}
	binary.LittleEndian.PutUint64(b[:], controllen)
	if err := c.Mem.CopyOut(addr+40, b[:]); err != nil {
		return err
	}
	binary.LittleEndian.PutUint32(b[:], msgFlags)
	return c.Mem.CopyOut(addr+48, b[:4])
}

// msgName copies in the address a sendmsg's msghdr h names (nil: none).
func msgName(c *kernel.Task, h msghdr) ([]byte, error) {
	if h.name == 0 || h.namelen == 0 {
		return nil, nil
	}
	if h.namelen > 128 {
		return nil, unix.EINVAL
	}
	return c.Mem.CopyIn(h.name, int(h.namelen))
}

// recvmsgBuffers reads a recvmsg's msghdr (argument 1) and the buffers
// its iovecs name.
func recvmsgBuffers(c *kernel.Task) (msghdr, usermem.IOSequence, error) {
	h, iov, err := readMsghdr(c, c.Args[1])
	if err != nil {
		return h, usermem.IOSequence{}, err
	}
	dst, err := kobj.Sequence(c.Mem, iov)
	return h, dst, err
}
