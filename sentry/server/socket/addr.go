package socket

import (
	"bytes"
	"encoding/binary"

	"golang.org/x/sys/unix"
)

// sizeofSockaddrUn is sizeof(struct sockaddr_un).
const sizeofSockaddrUn = 110

// UnixAddr is a parsed sockaddr_un: a path, or an abstract name (which
// starts with a NUL byte in sun_path and may contain more).
type UnixAddr struct {
	Name     string
	Abstract bool
}

// ParseUnixAddr parses the sockaddr_un of bind and connect. An address
// that is only the family (autobind, or an unnamed dgram target) has
// an empty Name; ok is false then.
func ParseUnixAddr(b []byte) (a UnixAddr, ok bool, err error) {
	if len(b) < 2 || len(b) > sizeofSockaddrUn {
		return UnixAddr{}, false, unix.EINVAL
	}
	if binary.LittleEndian.Uint16(b) != unix.AF_UNIX {
		return UnixAddr{}, false, unix.EINVAL
	}
	p := b[2:]
	if len(p) == 0 {
		return UnixAddr{}, false, nil
	}
	if p[0] == 0 {
		return UnixAddr{Name: string(p[1:]), Abstract: true}, true, nil
	}
	if i := bytes.IndexByte(p, 0); i >= 0 {
		p = p[:i]
	}
	return UnixAddr{Name: string(p)}, true, nil
}

// Encode returns the sockaddr_un of a, as getsockname and accept report
// it: a path with its NUL, an abstract name after its leading NUL, the
// family alone for an unbound socket.
func (a UnixAddr) Encode() []byte {
	b := make([]byte, 2, 3+len(a.Name))
	binary.LittleEndian.PutUint16(b, unix.AF_UNIX)
	switch {
	case a.Abstract:
		b = append(b, 0)
		b = append(b, a.Name...)
	case a.Name != "":
		b = append(b, a.Name...)
		b = append(b, 0)
	}
	return b
}

// TransportName is the address string gVisor's transport keeps for a:
// abstract names start with "@"-like NUL, as Linux reports them.
func (a UnixAddr) TransportName() string {
	if a.Abstract {
		return "\x00" + a.Name
	}
	return a.Name
}

// FromTransportName is TransportName's inverse.
func FromTransportName(s string) UnixAddr {
	if len(s) > 0 && s[0] == 0 {
		return UnixAddr{Name: s[1:], Abstract: true}
	}
	return UnixAddr{Name: s}
}
