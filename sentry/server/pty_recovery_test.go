package server

import (
	"bytes"
	"encoding/binary"
	"testing"

	"golang.org/x/sys/unix"
)

// TestPtyRecovery makes a pty pair, sets it raw with a window size,
// restores the log into a new server, and finds the same terminal behind
// the same fds; once both ends are closed its record leaves the log and
// a second restore has no terminal.
func TestPtyRecovery(t *testing.T) {
	r := newReplayer(t)
	m := r.mem
	r.start()
	master := r.open("/dev/ptmx", unix.O_RDWR|unix.O_NOCTTY)
	r.ok(1, unix.SYS_IOCTL, master, unix.TIOCSPTLCK, m.alloc(make([]byte, 4)))
	ptn := m.zeros(4)
	r.ok(1, unix.SYS_IOCTL, master, unix.TIOCGPTN, ptn)
	index := m.u32(ptn)
	slave := r.open("/dev/pts/"+itoa(int64(index)), unix.O_RDWR|unix.O_NOCTTY)
	tio := m.zeros(36)
	r.ok(1, unix.SYS_IOCTL, slave, unix.TCGETS, tio)
	raw := m.bytes(tio, 36)
	binary.LittleEndian.PutUint32(raw[12:], binary.LittleEndian.Uint32(raw[12:])&^(unix.ICANON|unix.ECHO)) // c_lflag
	binary.LittleEndian.PutUint32(raw[0:], binary.LittleEndian.Uint32(raw[0:])&^unix.ICRNL)                // c_iflag
	r.ok(1, unix.SYS_IOCTL, slave, unix.TCSETS, m.alloc(raw))
	ws := []byte{40, 0, 132, 0, 0, 0, 0, 0}
	r.ok(1, unix.SYS_IOCTL, master, unix.TIOCSWINSZ, m.alloc(ws))

	if rep := r.recover(nil); rep.Ret != 0 {
		t.Fatalf("Restore lost %d objects", rep.Ret)
	}
	got := m.zeros(36)
	r.ok(1, unix.SYS_IOCTL, slave, unix.TCGETS, got)
	if !bytes.Equal(m.bytes(got, 36), raw) {
		t.Errorf("termios after the restore %x, want %x", m.bytes(got, 36), raw)
	}
	gotWS := m.zeros(8)
	r.ok(1, unix.SYS_IOCTL, slave, unix.TIOCGWINSZ, gotWS)
	if !bytes.Equal(m.bytes(gotWS, 8), ws) {
		t.Errorf("window size after the restore %x, want %x", m.bytes(gotWS, 8), ws)
	}
	r.ok(1, unix.SYS_IOCTL, master, unix.TIOCGPTN, ptn)
	if m.u32(ptn) != index {
		t.Errorf("index after the restore %d, want %d", m.u32(ptn), index)
	}
	r.write(1, master, "raw\r", nil)
	if s := r.readStr(1, slave, 10); s != "raw\r" {
		t.Errorf("slave read %q, want \"raw\\r\" (raw mode kept)", s)
	}
	r.write(1, slave, "back\n", nil)
	if s := r.readStr(1, master, 10); s != "back\r\n" {
		t.Errorf("master read %q, want \"back\\r\\n\"", s)
	}

	r.ok(1, unix.SYS_CLOSE, slave)
	r.ok(1, unix.SYS_CLOSE, master)
	for _, rec := range r.records() {
		if rec.GetPty() != nil {
			t.Errorf("a closed terminal's record is still in the log: %v", rec)
		}
	}
	r.recover(nil)
	if rep := r.sys(1, unix.SYS_OPENAT, uint64(atFDCWD64), m.str("/dev/pts/"+itoa(int64(index))), unix.O_RDWR); rep.Errno != int32(unix.ENOENT) {
		t.Errorf("open of the closed terminal's slave after a restore: %v, want ENOENT", rep)
	}
}
