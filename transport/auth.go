package transport

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
	"google.golang.org/grpc/credentials"
)

// PeerIdentity is what a listener established about the other end of a
// connection. It is a credentials.AuthInfo: gRPC handlers find it with
// peer.FromContext, and so do the framed wire's Session handlers.
type PeerIdentity struct {
	// Kind is "unix" (the kernel's SO_PEERCRED of a Unix socket peer) or
	// "insecure" (nothing established: a TCP listener started with
	// --insecure). Mutual TLS peers carry gRPC's credentials.TLSInfo
	// instead.
	Kind string
	// UID, GID and PID are the peer's credentials when Kind is "unix".
	UID, GID uint32
	PID      int32
}

// AuthType implements credentials.AuthInfo.
func (p PeerIdentity) AuthType() string { return "runsc-decoupled-" + p.Kind }

// Principal names the peer for the daemons' per-peer state ("uid:1000").
func (p PeerIdentity) Principal() string {
	if p.Kind == "unix" {
		return "uid:" + strconv.FormatUint(uint64(p.UID), 10)
	}
	return "anonymous"
}

// identified is a connection whose listener established its peer.
type identified interface {
	PeerIdentity() PeerIdentity
}

// authConn is an accepted Unix connection with its peer's credentials.
type authConn struct {
	net.Conn
	id PeerIdentity
}

func (c *authConn) PeerIdentity() PeerIdentity { return c.id }

// peerOf returns what conn's listener established about its peer.
func peerOf(conn net.Conn) PeerIdentity {
	if c, ok := conn.(identified); ok {
		return c.PeerIdentity()
	}
	return PeerIdentity{Kind: "insecure"}
}

// refusedMagic starts the one line a listener sends a peer it refuses
// before closing the connection; a framed client reports the line.
const refusedMagic = "rdrefuse"

// AllowedUIDs is the set of peer uids a Unix socket listener accepts.
type AllowedUIDs map[uint32]bool

// DefaultAllowedUIDs is the daemon's own effective uid and root (which
// can do anything on the machine anyway).
func DefaultAllowedUIDs() AllowedUIDs {
	return AllowedUIDs{uint32(os.Geteuid()): true, 0: true}
}

// ParseAllowedUIDs adds the comma-separated uids of s (a flag's value) to
// the defaults.
func ParseAllowedUIDs(s string) (AllowedUIDs, error) {
	a, err := ParseUIDs(s)
	for u := range DefaultAllowedUIDs() {
		a[u] = true
	}
	return a, err
}

// ParseUIDs parses the comma-separated uids of s.
func ParseUIDs(s string) (AllowedUIDs, error) {
	a := AllowedUIDs{}
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		u, err := strconv.ParseUint(f, 10, 32)
		if err != nil {
			return nil, fmt.Errorf("uid %q: %w", f, err)
		}
		a[uint32(u)] = true
	}
	return a, nil
}

// String lists the uids.
func (a AllowedUIDs) String() string {
	var s []string
	for u := range a {
		s = append(s, strconv.FormatUint(uint64(u), 10))
	}
	return strings.Join(s, ",")
}

// authListener checks the peer credentials of every connection a Unix
// socket listener accepts: a peer whose uid is not allowed gets one line
// saying so and is closed before it can send anything we read.
type authListener struct {
	net.Listener
	allow AllowedUIDs
	// refused is called (if not nil) for each refused peer, for the log.
	refused func(PeerIdentity)
}

func (l *authListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		id, err := peerCred(c)
		if err != nil {
			c.Close()
			continue
		}
		if !l.allow[id.UID] {
			if l.refused != nil {
				l.refused(id)
			}
			go refuse(c, fmt.Sprintf("uid %d may not connect to this daemon (allowed: its own uid and root; see --allow-uid)", id.UID))
			continue
		}
		return &authConn{Conn: c, id: id}, nil
	}
}

// refuse tells a peer why it is refused, then closes its connection.
func refuse(c net.Conn, why string) {
	c.SetWriteDeadline(time.Now().Add(handshakeTimeout))
	c.Write([]byte(refusedMagic + why + "\n"))
	c.Close()
}

// peerCred reads SO_PEERCRED of a Unix connection.
func peerCred(c net.Conn) (PeerIdentity, error) {
	uc, ok := c.(*net.UnixConn)
	if !ok {
		return PeerIdentity{}, fmt.Errorf("not a Unix socket: %T", c)
	}
	raw, err := uc.SyscallConn()
	if err != nil {
		return PeerIdentity{}, err
	}
	var cred *unix.Ucred
	var cerr error
	if err := raw.Control(func(fd uintptr) {
		cred, cerr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
	}); err != nil {
		return PeerIdentity{}, err
	}
	if cerr != nil {
		return PeerIdentity{}, fmt.Errorf("SO_PEERCRED: %w", cerr)
	}
	return PeerIdentity{Kind: "unix", UID: cred.Uid, GID: cred.Gid, PID: cred.Pid}, nil
}

// PeerCredentials are gRPC transport credentials for a Unix socket
// listener from Listen: they hand gRPC the identity the listener
// established (no bytes are exchanged). On a connection no listener
// identified (TCP with --insecure) the identity is "insecure".
func PeerCredentials() credentials.TransportCredentials { return peerCreds{} }

type peerCreds struct{}

func (peerCreds) ClientHandshake(_ context.Context, _ string, c net.Conn) (net.Conn, credentials.AuthInfo, error) {
	return c, PeerIdentity{Kind: "insecure"}, nil
}

func (peerCreds) ServerHandshake(c net.Conn) (net.Conn, credentials.AuthInfo, error) {
	return c, peerOf(c), nil
}

func (peerCreds) Info() credentials.ProtocolInfo {
	return credentials.ProtocolInfo{SecurityProtocol: "runsc-decoupled-peercred"}
}

func (p peerCreds) Clone() credentials.TransportCredentials { return p }

func (peerCreds) OverrideServerName(string) error { return nil }

// Refusal connects to the Unix socket t and returns the refusal its
// listener sends (ErrRefused, saying why), or nil if it sends none within
// a moment. A gRPC client cannot read the refusal line itself; a command
// whose gRPC call to t failed uses this to say why.
func Refusal(t Target) error {
	if t.Network != "unix" {
		return nil
	}
	c, err := net.DialTimeout("unix", t.Address, time.Second)
	if err != nil {
		return nil
	}
	defer c.Close()
	c.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
	b := make([]byte, 512)
	n, _ := io.ReadAtLeast(c, b, len(refusedMagic))
	why, ok := strings.CutPrefix(string(b[:n]), refusedMagic)
	if !ok {
		return nil
	}
	return fmt.Errorf("%w by %s: %s", ErrRefused, t, strings.TrimSpace(why))
}
