package server

import (
	"encoding/binary"
	"testing"

	"golang.org/x/sys/unix"
)

// TestSockDiagRecovery: a NETLINK_SOCK_DIAG socket comes back from a
// server failure as one (its record names the protocol): SO_PROTOCOL
// says so, and a request for a family without a diag handler is
// answered ENOENT, as sock_diag answers (a route socket would say
// EOPNOTSUPP).
func TestSockDiagRecovery(t *testing.T) {
	r := newReplayer(t)
	r.start()
	sock := uint64(r.ok(1, unix.SYS_SOCKET, unix.AF_NETLINK, unix.SOCK_RAW, unix.NETLINK_SOCK_DIAG))
	if rep := r.recover(nil); rep.Ret != 0 {
		t.Fatalf("Restore lost %d objects", rep.Ret)
	}
	val, vlen := r.mem.zeros(4), r.mem.alloc([]byte{4, 0, 0, 0})
	rep := r.sys(1, unix.SYS_GETSOCKOPT, sock, unix.SOL_SOCKET, unix.SO_PROTOCOL, val, vlen)
	r.mem.apply(rep.Outputs)
	if got := binary.LittleEndian.Uint32(r.mem.bytes(val, 4)); rep.Errno != 0 || got != unix.NETLINK_SOCK_DIAG {
		t.Errorf("SO_PROTOCOL after the restore: %d, errno %v; want NETLINK_SOCK_DIAG", got, unix.Errno(rep.Errno))
	}
	// SOCK_DIAG_BY_FAMILY (20) of AF_PACKET, sequence 7.
	req := make([]byte, 20)
	binary.LittleEndian.PutUint32(req, 18)
	binary.LittleEndian.PutUint16(req[4:], 20)
	binary.LittleEndian.PutUint16(req[6:], unix.NLM_F_REQUEST)
	binary.LittleEndian.PutUint32(req[8:], 7)
	req[16] = unix.AF_PACKET
	r.ok(1, unix.SYS_SENDTO, sock, r.mem.alloc(req), uint64(len(req)), 0, 0, 0)
	buf := r.mem.zeros(128)
	rep = r.sys(1, unix.SYS_RECVFROM, sock, buf, 128, unix.MSG_DONTWAIT, 0, 0)
	r.mem.apply(rep.Outputs)
	b := r.mem.bytes(buf, 20)
	if rep.Errno != 0 || binary.LittleEndian.Uint16(b[4:]) != unix.NLMSG_ERROR || binary.LittleEndian.Uint32(b[8:]) != 7 ||
		int32(binary.LittleEndian.Uint32(b[16:])) != -int32(unix.ENOENT) {
		t.Errorf("answer after the restore: errno %v %x, want an NLMSG_ERROR of ENOENT", unix.Errno(rep.Errno), b)
	}
}
