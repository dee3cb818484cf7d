package socket

import (
	"encoding/binary"
	"fmt"
	"net"
	"sort"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Interface is what the SIOCGIF* ioctls report of a network interface.
type Interface struct {
	Index  int32
	Name   string
	Flags  uint32 // IFF_*
	MTU    uint32
	Type   uint16 // ARPHRD_*
	HWAddr []byte
	Addrs  []IfAddr
}

// IfAddr is one address of an interface.
type IfAddr struct {
	IP        net.IP // 4 bytes for IPv4, 16 for IPv6
	PrefixLen int
}

// Interfaces describes the stack's interfaces, by index.
func (st *Stack) Interfaces() []Interface {
	var out []Interface
	for id, ni := range st.s.NICInfo() {
		ifc := Interface{Index: int32(id), Name: ni.Name, MTU: ni.MTU, Type: unix.ARPHRD_ETHER,
			HWAddr: []byte(ni.LinkAddress)}
		if !ni.Flags.Loopback {
			// A sandbox network's Ethernet NIC, flagged as Linux flags a
			// veth.
			ifc.Flags |= unix.IFF_BROADCAST | unix.IFF_MULTICAST
		} else {
			ifc.Flags |= unix.IFF_LOOPBACK
			// gVisor numbers its loopback type 2; Linux says ARPHRD_LOOPBACK.
			ifc.Type = unix.ARPHRD_LOOPBACK
			if ifc.Name == "" {
				ifc.Name = "lo"
			}
		}
		if ni.Flags.Up {
			ifc.Flags |= unix.IFF_UP
		}
		if ni.Flags.Running {
			ifc.Flags |= unix.IFF_RUNNING
		}
		if len(ifc.HWAddr) == 0 {
			ifc.HWAddr = make([]byte, 6)
		}
		for _, pa := range ni.ProtocolAddresses {
			ip := net.IP(pa.AddressWithPrefix.Address.AsSlice())
			ifc.Addrs = append(ifc.Addrs, IfAddr{IP: ip, PrefixLen: pa.AddressWithPrefix.PrefixLen})
		}
		out = append(out, ifc)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Index < out[j].Index })
	return out
}

// HostInterfaces describes the server machine's interfaces
// (--network=host).
func HostInterfaces() ([]Interface, error) {
	ifs, err := net.Interfaces()
	if err != nil {
		return nil, fmt.Errorf("host interfaces: %w", err)
	}
	var out []Interface
	for _, hi := range ifs {
		ifc := Interface{Index: int32(hi.Index), Name: hi.Name, MTU: uint32(hi.MTU), Type: unix.ARPHRD_ETHER,
			HWAddr: []byte(hi.HardwareAddr)}
		if hi.Flags&net.FlagUp != 0 {
			ifc.Flags |= unix.IFF_UP
		}
		if hi.Flags&net.FlagRunning != 0 {
			ifc.Flags |= unix.IFF_RUNNING
		}
		if hi.Flags&net.FlagBroadcast != 0 {
			ifc.Flags |= unix.IFF_BROADCAST
		}
		if hi.Flags&net.FlagMulticast != 0 {
			ifc.Flags |= unix.IFF_MULTICAST
		}
		if hi.Flags&net.FlagPointToPoint != 0 {
			ifc.Flags |= unix.IFF_POINTOPOINT
		}
		if hi.Flags&net.FlagLoopback != 0 {
			ifc.Flags |= unix.IFF_LOOPBACK
			ifc.Type = unix.ARPHRD_LOOPBACK
		}
		if len(ifc.HWAddr) == 0 {
			ifc.HWAddr = make([]byte, 6)
		}
		addrs, err := hi.Addrs()
		if err != nil {
			return nil, fmt.Errorf("addresses of %s: %w", hi.Name, err)
		}
		for _, a := range addrs {
			if n, ok := a.(*net.IPNet); ok {
				ones, _ := n.Mask.Size()
				ip := n.IP
				if v4 := ip.To4(); v4 != nil {
					ip = v4
				}
				ifc.Addrs = append(ifc.Addrs, IfAddr{IP: ip, PrefixLen: ones})
			}
		}
		out = append(out, ifc)
	}
	return out, nil
}

// SizeofIfreq is sizeof(struct ifreq).
const SizeofIfreq = 40

// The interface ioctls (Linux's dev_ioctl) this package answers.
const (
	SIOCGIFNAME    = 0x8910
	SIOCGIFCONF    = 0x8912
	SIOCGIFFLAGS   = 0x8913
	SIOCGIFADDR    = 0x8915
	SIOCGIFBRDADDR = 0x8919
	SIOCGIFNETMASK = 0x891b
	SIOCGIFMETRIC  = 0x891d
	SIOCGIFMTU     = 0x8921
	SIOCGIFHWADDR  = 0x8927
	SIOCGIFINDEX   = 0x8933
	SIOCGIFTXQLEN  = 0x8942
)

// IsIfreqIoctl says req is one of the ioctls IfreqIoctl answers.
func IsIfreqIoctl(req uint32) bool {
	switch req {
	case SIOCGIFNAME, SIOCGIFFLAGS, SIOCGIFADDR, SIOCGIFBRDADDR, SIOCGIFNETMASK, SIOCGIFMETRIC,
		SIOCGIFMTU, SIOCGIFHWADDR, SIOCGIFINDEX, SIOCGIFTXQLEN:
		return true
	}
	return false
}

// ifreqName is the NUL-terminated name at the start of an ifreq.
func ifreqName(ifr []byte) string {
	for i, b := range ifr[:unix.IFNAMSIZ] {
		if b == 0 {
			return string(ifr[:i])
		}
	}
	return string(ifr[:unix.IFNAMSIZ])
}

// firstV4 is the interface's first IPv4 address.
func (ifc *Interface) firstV4() (IfAddr, bool) {
	for _, a := range ifc.Addrs {
		if len(a.IP) == net.IPv4len {
			return a, true
		}
	}
	return IfAddr{}, false
}

// sockaddrIn writes a struct sockaddr_in of ip into b.
func sockaddrIn(b []byte, ip net.IP) {
	clear(b[:16])
	binary.LittleEndian.PutUint16(b, unix.AF_INET)
	copy(b[4:8], ip.To4())
}

// IfreqIoctl answers a SIOCGIF* ioctl on ifr (a struct ifreq, 40 bytes)
// and returns the ifreq to copy out.
func IfreqIoctl(ifs []Interface, req uint32, ifr []byte) ([]byte, error) {
	if len(ifr) < SizeofIfreq {
		return nil, unix.EFAULT
	}
	out := append([]byte(nil), ifr[:SizeofIfreq]...)
	if req == SIOCGIFNAME {
		idx := int32(binary.LittleEndian.Uint32(ifr[unix.IFNAMSIZ:]))
		for _, ifc := range ifs {
			if ifc.Index == idx {
				clear(out[:unix.IFNAMSIZ])
				copy(out[:unix.IFNAMSIZ-1], ifc.Name)
				return out, nil
			}
		}
		return nil, unix.ENODEV
	}
	name := ifreqName(ifr)
	var ifc *Interface
	for i := range ifs {
		if ifs[i].Name == name {
			ifc = &ifs[i]
		}
	}
	if ifc == nil {
		return nil, unix.ENODEV
	}
	u := out[unix.IFNAMSIZ:]
	switch req {
	case SIOCGIFFLAGS:
		clear(u)
		binary.LittleEndian.PutUint16(u, uint16(ifc.Flags))
	case SIOCGIFINDEX:
		clear(u)
		binary.LittleEndian.PutUint32(u, uint32(ifc.Index))
	case SIOCGIFMTU:
		clear(u)
		binary.LittleEndian.PutUint32(u, ifc.MTU)
	case SIOCGIFMETRIC:
		clear(u)
	case SIOCGIFTXQLEN:
		// Linux's default queue length, its loopback's included.
		clear(u)
		binary.LittleEndian.PutUint32(u, 1000)
	case SIOCGIFHWADDR:
		clear(u)
		binary.LittleEndian.PutUint16(u, ifc.Type)
		copy(u[2:16], ifc.HWAddr)
	case SIOCGIFADDR, SIOCGIFNETMASK, SIOCGIFBRDADDR:
		a, ok := ifc.firstV4()
		if !ok {
			return nil, unix.EADDRNOTAVAIL
		}
		mask := net.CIDRMask(a.PrefixLen, 32)
		switch req {
		case SIOCGIFADDR:
			sockaddrIn(u, a.IP)
		case SIOCGIFNETMASK:
			sockaddrIn(u, net.IP(mask))
		case SIOCGIFBRDADDR:
			brd := make(net.IP, 4)
			if ifc.Flags&unix.IFF_BROADCAST != 0 {
				for i := range brd {
					brd[i] = a.IP[i] | ^mask[i]
				}
			}
			sockaddrIn(u, brd)
		}
	default:
		return nil, unix.ENOTTY
	}
	return out, nil
}

// IfConf is SIOCGIFCONF: an ifreq per interface with an IPv4 address
// (name and sockaddr_in), as many as fit in n bytes (all with
// count=true: ifc_buf was NULL, only the length is asked). It returns
// the records and the length to report.
func IfConf(ifs []Interface, n int, count bool) ([]byte, int) {
	var out []byte
	for _, ifc := range ifs {
		a, ok := ifc.firstV4()
		if !ok {
			continue
		}
		if !count && len(out)+SizeofIfreq > n {
			break
		}
		r := make([]byte, SizeofIfreq)
		copy(r[:unix.IFNAMSIZ-1], ifc.Name)
		sockaddrIn(r[unix.IFNAMSIZ:], a.IP)
		out = append(out, r...)
	}
	if count {
		return nil, len(out)
	}
	return out, len(out)
}

// HostIfreqIoctl answers a SIOCGIF* ioctl from the server machine's
// kernel (--network=host), on a socket of its own: only the requests
// IsIfreqIoctl names, all of which only read.
func HostIfreqIoctl(req uint32, ifr []byte) ([]byte, error) {
	if !IsIfreqIoctl(req) {
		return nil, unix.ENOTTY
	}
	if len(ifr) < SizeofIfreq {
		return nil, unix.EFAULT
	}
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("host socket for an interface ioctl: %w", err)
	}
	defer unix.Close(fd)
	buf := make([]byte, SizeofIfreq)
	copy(buf, ifr)
	if _, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), uintptr(req), uintptr(unsafe.Pointer(&buf[0]))); e != 0 {
		return nil, e
	}
	return buf, nil
}
