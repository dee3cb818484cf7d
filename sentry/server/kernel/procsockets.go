package kernel

import (
	"encoding/binary"
	"net/netip"
	"os"
	"sort"

	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"
	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/transport"
	"gvisor.dev/gvisor/pkg/tcpip/transport/tcp"

	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/fdesc"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/fsimpl/inet"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/fsimpl/netlink"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/fsimpl/unixsock"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/kernel/fdtable"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/procfs"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/socket"
)

// Sockets lists the sockets open in the client's fd tables (a socket
// held only by an SCM_RIGHTS message in flight is not listed, as on
// Linux it would be), by inode number. Each is described after k.Mu is
// dropped, under a reference: a socket's own locks are not ordered
// against the kernel's.
func (s procSource) Sockets() []procfs.Socket {
	files := s.socketFiles()
	out := make([]procfs.Socket, 0, len(files))
	for _, f := range files {
		if ps, ok := procSocketOf(f); ok {
			out = append(out, ps)
		}
		f.DecRef()
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Ino < out[j].Ino })
	return out
}

// socketFiles returns the socket descriptions open in the client's fd
// tables, each once and with a reference the caller drops.
func (s procSource) socketFiles() []*fdesc.File {
	k := s.k
	seen := map[*fdesc.File]bool{}
	var files []*fdesc.File
	k.Mu.Lock()
	defer k.Mu.Unlock()
	for _, p := range k.Procs {
		if p.FDs == nil {
			continue
		}
		p.FDs.Each(func(_ int32, e fdtable.Entry) {
			switch e.File.Impl.(type) {
			case *inet.File, *inet.HostFile, *unixsock.File, *netlink.File:
			default:
				return
			}
			if !seen[e.File] {
				seen[e.File] = true
				e.File.IncRef()
				files = append(files, e.File)
			}
		})
	}
	return files
}

// NetStats counts the sockets open in the client's fd tables and the
// netstack's endpoints no description holds (Linux's sockets still
// allocated: orphans, TCP endpoints closing after their close, and
// connections waiting in a listener's queue; TIME-WAIT ones, and
// orphans in FIN-WAIT-2, are Linux's timewait sockets), with the
// netstack's MIB counters.
func (s procSource) NetStats() (*procfs.NetStats, error) {
	st, err := s.k.NetStack()
	if err != nil {
		return nil, err
	}
	mib := st.MIB()
	out := &procfs.NetStats{Counters: mib.Counters, ICMPMsg: mib.ICMPMsg, ICMP6Msg: mib.ICMP6Msg}
	if s.k.Sysctl.IPForward() == 1 {
		out.Counters["IpForwarding"] = 1
	}
	held := map[tcpip.Endpoint]bool{}
	files := s.socketFiles()
	out.Sockets = len(files)
	for _, f := range files {
		if impl, ok := f.Impl.(*inet.File); ok {
			held[impl.S.EP] = true
			if impl.S.Stream {
				out.TCPAlloc++ // in the tables or not; those that are are counted below
			}
		}
		f.DecRef()
	}
	countEndpoints(out, st.Endpoints(), held)
	return out, nil
}

// countEndpoints adds the stack's TCP and UDP endpoints eps to out's
// counts; held are the endpoints descriptions hold (their sockets are
// counted already).
func countEndpoints(out *procfs.NetStats, eps []socket.Endpoint, held map[tcpip.Endpoint]bool) {
	for _, e := range eps {
		if !e.Stream {
			if e.V6 {
				out.UDP6InUse++
			} else {
				out.UDPInUse++
			}
			continue
		}
		switch e.State {
		case tcp.StateInitial, tcp.StateBound, tcp.StateClose, tcp.StateError:
			continue
		case tcp.StateTimeWait:
			out.TCPTimeWait++
			continue
		case tcp.StateFinWait2:
			if !held[e.EP] {
				// Linux's tcp_close turns an orphan in FIN-WAIT-2
				// into a timewait socket (tcp_fin_timeout is the
				// TIME-WAIT length).
				out.TCPTimeWait++
				continue
			}
		}
		if e.V6 {
			out.TCP6InUse++
		} else {
			out.TCPInUse++
		}
		if !held[e.EP] {
			// Closed by the application and still closing, or
			// an accepted connection not yet taken from its
			// listener's queue: both sockets Linux allocated.
			out.Sockets++
			out.TCPAlloc++
			if closing(e.State) {
				out.TCPOrphans++
			}
		}
	}
}

// closing says TCP state s is one a closed socket still sends or waits
// for its FIN's acknowledgement in (an orphan in FIN-WAIT-2 is a
// timewait socket).
func closing(s tcp.EndpointState) bool {
	switch s {
	case tcp.StateFinWait1, tcp.StateClosing, tcp.StateLastAck:
		return true
	}
	return false
}

// HostNetFile reads the server machine's /proc/net/<name> with
// --network=host.
func (s procSource) HostNetFile(name string) ([]byte, bool, error) {
	if !s.k.HostNet {
		return nil, false, nil
	}
	b, err := os.ReadFile("/proc/net/" + name)
	if err != nil {
		s.k.Log.Warn("cannot read the host's /proc/net file", "name", name, "err", err)
		return nil, true, unix.EIO
	}
	return b, true, nil
}

// procSocketOf describes socket file f for /proc/net.
func procSocketOf(f *fdesc.File) (procfs.Socket, bool) {
	switch impl := f.Impl.(type) {
	case *inet.File:
		ps := procfs.Socket{Family: impl.S.Family, Type: unix.SOCK_DGRAM, Ino: impl.Ino()}
		ep := impl.S.EP
		if a, err := ep.GetLocalAddress(); err == nil {
			ps.Local = addrPortOf(a)
		}
		if a, err := ep.GetRemoteAddress(); err == nil {
			ps.Remote = addrPortOf(a)
		}
		if rx, err := ep.GetSockOptInt(tcpip.ReceiveQueueSizeOption); err == nil {
			ps.RxQueue = uint32(rx)
		}
		if tx, err := ep.GetSockOptInt(tcpip.SendQueueSizeOption); err == nil {
			ps.TxQueue = uint32(tx)
		}
		if impl.S.Stream {
			ps.Type, ps.State = unix.SOCK_STREAM, linuxTCPState(tcp.EndpointState(ep.State()))
		} else if transport.DatagramEndpointState(ep.State()) == transport.DatagramEndpointStateConnected {
			ps.State = linux.TCP_ESTABLISHED
		} else {
			ps.State = linux.TCP_CLOSE
		}
		ps.Backlog = uint32(impl.Backlog())
		if impl.S.Family == unix.AF_INET6 {
			ps.V6Only = ep.SocketOptions().GetV6Only() || boundV6Only(ps.Local.Addr())
		}
		return ps, inLinuxTables(&ps)
	case *inet.HostFile:
		ps := procfs.Socket{Family: impl.S.Family, Type: unix.SOCK_DGRAM, Ino: impl.Ino(), State: linux.TCP_CLOSE}
		if sa, err := impl.S.Name(false); err == nil {
			ps.Local = sockaddrAddrPort(sa)
		}
		sa, err := impl.S.Name(true)
		if err == nil {
			ps.Remote = sockaddrAddrPort(sa)
		}
		if n, qerr := impl.S.Queued(); qerr == nil {
			ps.RxQueue = uint32(n)
		}
		switch {
		case impl.S.Stream && impl.S.Listening():
			ps.State = linux.TCP_LISTEN
		case err == nil:
			// A peer: connected (a closing connection's finer
			// state is the host's alone).
			ps.State = linux.TCP_ESTABLISHED
		}
		if impl.S.Stream {
			ps.Type = unix.SOCK_STREAM
		}
		ps.Backlog = uint32(impl.Backlog())
		if impl.S.Family == unix.AF_INET6 {
			// The option itself is the host's to tell.
			ps.V6Only = boundV6Only(ps.Local.Addr())
		}
		return ps, inLinuxTables(&ps)
	case *unixsock.File:
		ps := procfs.Socket{Family: unix.AF_UNIX, Type: int(impl.U.Type), Ino: impl.Ino(), State: linux.TCP_CLOSE}
		impl.Mu.Lock()
		listening := impl.Backlog > 0
		ps.Path = impl.BoundName
		ps.Backlog = uint32(impl.Backlog)
		impl.Mu.Unlock()
		if ps.Path == "" {
			// An accepted socket shows its listener's name, as
			// getsockname tells it.
			if a, err := impl.U.EP.GetLocalAddress(); err == nil {
				ps.Path = a.Addr
			}
		}
		switch {
		case listening:
			ps.State = linux.TCP_LISTEN
			impl.ConnMu.Lock()
			ps.RxQueue = uint32(len(impl.Pending))
			impl.ConnMu.Unlock()
		case impl.U.Connected():
			ps.State = linux.TCP_ESTABLISHED
			ps.Peer = unixPeerIno(impl)
		}
		if ps.State != linux.TCP_LISTEN {
			// Bytes, where Linux's Send-Q counts the buffers' true
			// size.
			if rx, err := impl.U.EP.GetSockOptInt(tcpip.ReceiveQueueSizeOption); err == nil {
				ps.RxQueue = uint32(rx)
			}
			if tx, err := impl.U.EP.GetSockOptInt(tcpip.SendQueueSizeOption); err == nil {
				ps.TxQueue = uint32(tx)
			}
		}
		return ps, true
	}
	return procfs.Socket{}, false
}

// boundV6Only reports whether an IPv6 socket bound to a is IPv6-only
// whatever its option: Linux's inet6_bind makes it so for an address that
// is neither the any address nor v4-mapped.
func boundV6Only(a netip.Addr) bool {
	return a.IsValid() && !a.IsUnspecified() && !a.Is4In6()
}

// inLinuxTables reports whether Linux's socket tables, which /proc/net
// and sock_diag list, would hold inet socket s: a TCP socket is in
// them from its listen or connect until it is closed, a UDP socket
// once it has a port.
func inLinuxTables(s *procfs.Socket) bool {
	if s.Type == unix.SOCK_STREAM {
		return s.State != linux.TCP_CLOSE
	}
	return s.Local.Port() != 0
}

// unixPeerIno is the inode number of the other end of u's connection (a
// socketpair, or a connect and its accept), 0 if there is none.
func unixPeerIno(u *unixsock.File) uint64 {
	end := u.End.Load()
	if end == nil {
		return 0
	}
	end.Conn.Mu.Lock()
	peer := end.Conn.Files[1-end.Side]
	end.Conn.Mu.Unlock()
	if peer == nil {
		return 0
	}
	if p, ok := peer.Impl.(*unixsock.File); ok {
		return p.Ino()
	}
	return 0
}

// linuxTCPState is netstack's TCP state as Linux's: the protocol's
// states are Linux's numbers; netstack's own before a connection
// (initial, bound, a connect not yet sent, an error) are TCP_CLOSE but
// the connect, which is TCP_SYN_SENT.
func linuxTCPState(s tcp.EndpointState) uint32 {
	switch s {
	case tcp.StateConnecting:
		return linux.TCP_SYN_SENT
	case tcp.StateInitial, tcp.StateBound, tcp.StateError:
		return linux.TCP_CLOSE
	}
	return uint32(s)
}

// addrPortOf is a netstack address.
func addrPortOf(a tcpip.FullAddress) netip.AddrPort {
	ip, _ := netip.AddrFromSlice(a.Addr.AsSlice())
	return netip.AddrPortFrom(ip, a.Port)
}

// sockaddrAddrPort parses a host sockaddr_in or sockaddr_in6 (zero if
// it is neither).
func sockaddrAddrPort(sa []byte) netip.AddrPort {
	if len(sa) < 4 {
		return netip.AddrPort{}
	}
	port := binary.BigEndian.Uint16(sa[2:])
	switch binary.LittleEndian.Uint16(sa) {
	case unix.AF_INET:
		if len(sa) >= 8 {
			return netip.AddrPortFrom(netip.AddrFrom4([4]byte(sa[4:8])), port)
		}
	case unix.AF_INET6:
		if len(sa) >= 24 {
			return netip.AddrPortFrom(netip.AddrFrom16([16]byte(sa[8:24])), port)
		}
	}
	return netip.AddrPort{}
}
