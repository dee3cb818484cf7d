package procfs

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"strings"

	"golang.org/x/sys/unix"
)

// Socket is one of the sandbox's sockets as /proc/net/{tcp,tcp6,udp,
// udp6,unix} show it.
type Socket struct {
	// Family is AF_INET, AF_INET6 or AF_UNIX; Type SOCK_STREAM,
	// SOCK_DGRAM or SOCK_SEQPACKET.
	Family, Type int
	// Local and Remote are an inet socket's addresses (zero: none).
	Local, Remote netip.AddrPort
	// State is Linux's TCP_* state (a UDP or unix socket's too:
	// TCP_ESTABLISHED connected, TCP_LISTEN listening, else TCP_CLOSE).
	State uint32
	// TxQueue and RxQueue are the bytes queued to send and to read (a
	// listening unix socket's RxQueue: its connections not accepted).
	TxQueue, RxQueue uint32
	// Backlog is a listening socket's listen backlog (sock_diag's
	// Send-Q of a listener; /proc/net does not show it).
	Backlog uint32
	// Peer is the inode of a connected unix socket's peer (0: none
	// known), which sock_diag reports and /proc/net does not.
	Peer uint64
	// V6Only is an IPv6 socket's IPV6_V6ONLY as Linux has it (sock_diag
	// reports it, ss shows a listener's any peer by it).
	V6Only bool
	// UID owns the socket's inode, Ino is its number.
	UID uint32
	Ino uint64
	// Path is a unix socket's bound name ("" if none; an abstract
	// name starts with a NUL byte).
	Path string
}

// Linux's socket states (include/net/tcp_states.h) this file names.
const (
	tcpEstablished = 1
	tcpListen      = 10
)

// inetWords returns a's bytes as Linux prints an address in
// /proc/net/tcp: 32-bit words in host (little-endian) order, one for
// IPv4, four for IPv6 (an invalid address: zeros of the family's size).
func inetWords(a netip.Addr, family int) string {
	var b []byte
	switch {
	case family == unix.AF_INET:
		var v [4]byte
		if a = a.Unmap(); a.Is4() {
			v = a.As4()
		}
		b = v[:]
	default:
		var v [16]byte
		if a.IsValid() {
			v = a.As16()
		}
		b = v[:]
	}
	var s strings.Builder
	for i := 0; i < len(b); i += 4 {
		fmt.Fprintf(&s, "%08X", binary.LittleEndian.Uint32(b[i:]))
	}
	return s.String()
}

// padLine pads s with spaces to width and ends it (Linux's seq_pad).
func padLine(b *strings.Builder, s string, width int) {
	b.WriteString(s)
	if n := width - len(s); n > 0 {
		b.WriteString(strings.Repeat(" ", n))
	}
	b.WriteByte('\n')
}

// sockets returns the sandbox's sockets of family and type.
func sockets(src Source, family, stype int) []Socket {
	var out []Socket
	for _, s := range src.Sockets() {
		if s.Family == family && s.Type == stype {
			out = append(out, s)
		}
	}
	return out
}

// netInetFormat is the shape of /proc/net/tcp (net/ipv4/tcp_ipv4.c
// tcp4_seq_show, net/ipv6/tcp_ipv6.c) or /proc/net/udp (net/ipv4/udp.c
// udp4_seq_show, net/ipv6's udp6_seq_show): the sockets of one type,
// one line each. Timers, retransmits, the congestion fields and the
// kernel pointer are not the sandbox's to tell and show 0 (the pointer
// as Linux hides it, TCP's ssthresh as -1, "large"); UDP lines are
// numbered in order (Linux numbers them by hash bucket) and count no
// drops.
type netInetFormat struct {
	stype int
	// header4 and header6 are the IPv4 and IPv6 files' first lines; the
	// IPv4 file's lines are padded to width4 (Linux's seq_pad).
	header4, header6 string
	width4           int
	// slWidth is the line number's width, tail the fields after the
	// inode.
	slWidth int
	tail    string
}

var (
	netTCP = netInetFormat{
		stype:   unix.SOCK_STREAM,
		header4: "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode",
		header6: "  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode",
		width4:  149, slWidth: 4, tail: "1 0000000000000000 0 0 0 0 -1",
	}
	netUDP = netInetFormat{
		stype:   unix.SOCK_DGRAM,
		header4: "   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops",
		header6: "  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops",
		width4:  127, slWidth: 5, tail: "2 0000000000000000 0",
	}
)

// genNetInet renders f's file of family.
func genNetInet(family int, f netInetFormat) func(Source, int32, int32) ([]byte, error) {
	return func(src Source, _, _ int32) ([]byte, error) {
		var b strings.Builder
		line := func(s string) {
			if family == unix.AF_INET {
				padLine(&b, s, f.width4)
			} else {
				b.WriteString(s + "\n")
			}
		}
		if family == unix.AF_INET {
			line(f.header4)
		} else {
			line(f.header6)
		}
		for i, s := range sockets(src, family, f.stype) {
			line(fmt.Sprintf("%*d: %s:%04X %s:%04X %02X %08X:%08X 00:00000000 00000000 %5d        0 %d %s",
				f.slWidth, i, inetWords(s.Local.Addr(), family), s.Local.Port(), inetWords(s.Remote.Addr(), family), s.Remote.Port(),
				s.State, s.TxQueue, s.RxQueue, s.UID, s.Ino, f.tail))
		}
		return []byte(b.String()), nil
	}
}

// soAcceptCon is Linux's __SO_ACCEPTCON, a listening socket's flag.
const soAcceptCon = 1 << 16

// Socket states of struct socket (SS_*) /proc/net/unix shows.
const (
	ssUnconnected = 1
	ssConnected   = 3
)

// genNetUnix follows net/unix/af_unix.c (unix_seq_show): one line a
// unix socket; its address and reference count are not the sandbox's
// to tell (0, as Linux hides a pointer, and 2).
func genNetUnix(src Source, _, _ int32) ([]byte, error) {
	var b strings.Builder
	b.WriteString("Num       RefCount Protocol Flags    Type St Inode Path\n")
	for _, s := range src.Sockets() {
		if s.Family != unix.AF_UNIX {
			continue
		}
		flags, st := 0, ssUnconnected
		if s.State == tcpListen {
			flags = soAcceptCon
		}
		if s.State == tcpEstablished {
			st = ssConnected
		}
		fmt.Fprintf(&b, "0000000000000000: 00000002 00000000 %08X %04X %02X %5d", flags, s.Type, st, s.Ino)
		if s.Path != "" {
			p := s.Path
			if p[0] == 0 {
				// An abstract name, its NULs as '@'.
				p = strings.ReplaceAll(p, "\x00", "@")
			}
			b.WriteString(" " + p)
		}
		b.WriteByte('\n')
	}
	return []byte(b.String()), nil
}
