package sysabi

import (
	"bytes"
	"encoding/binary"
	"testing"

	"golang.org/x/sys/unix"
)

// fakeApp is application memory made of byte slices at fixed addresses.
type fakeApp map[uint64][]byte

func (f fakeApp) find(addr uint64, n int) ([]byte, bool) {
	for base, b := range f {
		if addr >= base && addr+uint64(n) <= base+uint64(len(b)) {
			return b[addr-base : addr-base+uint64(n)], true
		}
	}
	return nil, false
}

func (f fakeApp) ReadAt(addr uint64, n int) ([]byte, error) {
	b, ok := f.find(addr, n)
	if !ok {
		return nil, unix.EFAULT
	}
	return append([]byte(nil), b...), nil
}

func (f fakeApp) ReadString(addr uint64, max int) ([]byte, error) {
	for base, b := range f {
		if addr >= base && addr < base+uint64(len(b)) {
			rest := b[addr-base:]
			if i := bytes.IndexByte(rest, 0); i >= 0 && i < max {
				return append([]byte(nil), rest[:i+1]...), nil
			}
			if len(rest) >= max {
				return nil, unix.ENAMETOOLONG
			}
			return nil, unix.EFAULT
		}
	}
	return nil, unix.EFAULT
}

func iovecs(pairs ...uint64) []byte {
	b := make([]byte, 8*len(pairs))
	for i, v := range pairs {
		binary.LittleEndian.PutUint64(b[8*i:], v)
	}
	return b
}

// TestInputsRoundTrip checks that what the client copies is exactly what a
// server-side Memory lets the call read.
func TestInputsRoundTrip(t *testing.T) {
	app := fakeApp{
		0x1000: []byte("/etc/passwd\x00"),
		0x2000: []byte("/tmp/new\x00"),
		0x3000: []byte("hello world"),
		0x4000: iovecs(0x3000, 5, 0x3006, 5),
		0x5000: iovecs(0x1000, 0x2000, 0),
		// struct msghdr: name 0x2000 (9 bytes), iov 0x4000 x2,
		// control 0x1000 (12 bytes).
		0x6000: iovecs(0x2000, 9, 0x4000, 2, 0x1000, 12, 0),
		0x8000: bytes.Repeat([]byte("a"), PathMax+10),
		// Two struct mmsghdr: iov 0x4000 x1 ("hello"), then iov 0x4010
		// x1 ("world"); each is a msghdr and msg_len.
		0xa000: iovecs(0, 0, 0x4000, 1, 0, 0, 0, 0, 0, 0, 0x4010, 1, 0, 0, 0, 0),
	}
	tests := []struct {
		name  string
		sysno uintptr
		args  [6]uint64
		check func(t *testing.T, m *Memory)
	}{
		{"openat path", unix.SYS_OPENAT, [6]uint64{0, 0x1000}, func(t *testing.T, m *Memory) {
			if s, err := m.CopyInString(0x1000, PathMax); err != nil || s != "/etc/passwd" {
				t.Errorf("path = %q, %v", s, err)
			}
		}},
		{"path without NUL within PATH_MAX", unix.SYS_OPENAT, [6]uint64{0, 0x8000}, func(t *testing.T, m *Memory) {
			if _, err := m.CopyInString(0x8000, PathMax); err != unix.ENAMETOOLONG {
				t.Errorf("err = %v, want ENAMETOOLONG", err)
			}
		}},
		{"rename two paths", unix.SYS_RENAME, [6]uint64{0x1000, 0x2000}, func(t *testing.T, m *Memory) {
			if s, err := m.CopyInString(0x2000, PathMax); err != nil || s != "/tmp/new" {
				t.Errorf("new = %q, %v", s, err)
			}
		}},
		{"write buffer", unix.SYS_WRITE, [6]uint64{1, 0x3000, 11}, func(t *testing.T, m *Memory) {
			if b, err := m.CopyIn(0x3000, 11); err != nil || string(b) != "hello world" {
				t.Errorf("buf = %q, %v", b, err)
			}
			if _, err := m.CopyIn(0x3000, 12); err != unix.EFAULT {
				t.Errorf("read past buffer: %v, want EFAULT", err)
			}
		}},
		{"writev data", unix.SYS_WRITEV, [6]uint64{1, 0x4000, 2}, func(t *testing.T, m *Memory) {
			iov, err := m.CopyInIovecs(0x4000, 2)
			if err != nil {
				t.Fatal(err)
			}
			var got []byte
			for _, v := range iov {
				b, err := m.CopyIn(v.Base, int(v.Len))
				if err != nil {
					t.Fatal(err)
				}
				got = append(got, b...)
			}
			if string(got) != "helloworld" {
				t.Errorf("gathered %q", got)
			}
		}},
		{"execve argv", unix.SYS_EXECVE, [6]uint64{0x1000, 0x5000, 0}, func(t *testing.T, m *Memory) {
			argv, err := m.CopyInStringVector(0x5000, 10, 1000)
			if err != nil || len(argv) != 2 || argv[0] != "/etc/passwd" || argv[1] != "/tmp/new" {
				t.Errorf("argv = %q, %v", argv, err)
			}
		}},
		{"sendmsg header, name, data and control", unix.SYS_SENDMSG, [6]uint64{3, 0x6000}, func(t *testing.T, m *Memory) {
			for _, r := range []struct {
				addr uint64
				want string
			}{{0x2000, "/tmp/new\x00"}, {0x3000, "hello"}, {0x3006, "world"}, {0x1000, "/etc/passwd\x00"}} {
				if b, err := m.CopyIn(r.addr, len(r.want)); err != nil || string(b) != r.want {
					t.Errorf("at %#x: %q, %v; want %q", r.addr, b, err, r.want)
				}
			}
			if _, err := m.CopyIn(0x6000, SizeofMsghdr); err != nil {
				t.Errorf("header: %v", err)
			}
		}},
		{"recvmsg header and iovecs only", unix.SYS_RECVMSG, [6]uint64{3, 0x6000}, func(t *testing.T, m *Memory) {
			if _, err := m.CopyInIovecs(0x4000, 2); err != nil {
				t.Errorf("iovecs: %v", err)
			}
			if _, err := m.CopyIn(0x3000, 1); err != unix.EFAULT {
				t.Errorf("receive buffer sent: %v, want EFAULT", err)
			}
		}},
		{"sendmmsg each message's data", unix.SYS_SENDMMSG, [6]uint64{3, 0xa000, 2}, func(t *testing.T, m *Memory) {
			for _, r := range []struct {
				addr uint64
				want string
			}{{0x3000, "hello"}, {0x3006, "world"}} {
				if b, err := m.CopyIn(r.addr, len(r.want)); err != nil || string(b) != r.want {
					t.Errorf("at %#x: %q, %v; want %q", r.addr, b, err, r.want)
				}
			}
			if _, err := m.CopyIn(0xa000, 2*SizeofMmsghdr); err != nil {
				t.Errorf("headers: %v", err)
			}
		}},
		{"sendmmsg only vlen messages", unix.SYS_SENDMMSG, [6]uint64{3, 0xa000, 1}, func(t *testing.T, m *Memory) {
			if _, err := m.CopyIn(0x3006, 5); err != unix.EFAULT {
				t.Errorf("second message's data: %v, want EFAULT", err)
			}
		}},
		{"recvmmsg headers and iovecs only", unix.SYS_RECVMMSG, [6]uint64{3, 0xa000, 2}, func(t *testing.T, m *Memory) {
			if _, err := m.CopyInIovecs(0x4010, 1); err != nil {
				t.Errorf("second message's iovecs: %v", err)
			}
			if _, err := m.CopyIn(0x3000, 1); err != unix.EFAULT {
				t.Errorf("receive buffer sent: %v, want EFAULT", err)
			}
		}},
		{"unmapped path faults", unix.SYS_OPEN, [6]uint64{0x9000}, func(t *testing.T, m *Memory) {
			if _, err := m.CopyInString(0x9000, PathMax); err != unix.EFAULT {
				t.Errorf("err = %v, want EFAULT", err)
			}
		}},
		{"fcntl F_SETOWN_EX struct", unix.SYS_FCNTL, [6]uint64{3, unix.F_SETOWN_EX, 0x3000}, func(t *testing.T, m *Memory) {
			if b, err := m.CopyIn(0x3000, 8); err != nil || string(b) != "hello wo" {
				t.Errorf("f_owner_ex = %q, %v", b, err)
			}
		}},
		{"fcntl F_GETOWN_EX has no inputs", unix.SYS_FCNTL, [6]uint64{3, unix.F_GETOWN_EX, 0x3000}, func(t *testing.T, m *Memory) {
			if _, err := m.CopyIn(0x3000, 1); err != unix.EFAULT {
				t.Errorf("err = %v, want EFAULT", err)
			}
		}},
		{"read has no inputs", unix.SYS_READ, [6]uint64{0, 0x3000, 11}, func(t *testing.T, m *Memory) {
			if _, err := m.CopyIn(0x3000, 1); err != unix.EFAULT {
				t.Errorf("err = %v, want EFAULT", err)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.check(t, NewMemory(Inputs(tc.sysno, tc.args, app)))
		})
	}
}

func TestCopyOutOverlaysLaterReads(t *testing.T) {
	m := NewMemory([]Region{{Addr: 100, Data: []byte("abcdef")}})
	if err := m.CopyOut(102, []byte("XY")); err != nil {
		t.Fatal(err)
	}
	b, err := m.CopyIn(100, 6)
	if err != nil || string(b) != "abXYef" {
		t.Errorf("CopyIn = %q, %v", b, err)
	}
	if err := m.CopyOut(0, []byte("x")); err != unix.EFAULT {
		t.Errorf("CopyOut(0) = %v, want EFAULT", err)
	}
}

// TestNewMemoryMergesOverlaps: regions given in any order are sorted and
// merged in place, without writing the regions' bytes, and a view of
// separate regions allocates nothing (a forwarded call's inputs are its
// own).
func TestNewMemoryMergesOverlaps(t *testing.T) {
	abcd, cdefgh := []byte("abcd"), []byte("cdefgh")
	m := NewMemory([]Region{
		{Addr: 18, Data: []byte("ij")},
		{Addr: 40, Data: []byte("xy")},
		{Addr: 12, Data: cdefgh},
		{Addr: 10, Data: abcd},
		{Addr: 30, Data: nil},
	})
	b, err := m.CopyIn(10, 10)
	if err != nil || string(b) != "abcdefghij" {
		t.Errorf("CopyIn = %q, %v", b, err)
	}
	if b, err := m.CopyIn(40, 2); err != nil || string(b) != "xy" {
		t.Errorf("CopyIn(40) = %q, %v", b, err)
	}
	if string(abcd) != "abcd" || string(cdefgh) != "cdefgh" {
		t.Errorf("merging wrote the regions' bytes: %q %q", abcd, cdefgh)
	}
	in := make([]Region, 3)
	if n := testing.AllocsPerRun(100, func() {
		in[0], in[1], in[2] = Region{Addr: 30, Data: abcd}, Region{Addr: 10, Data: abcd}, Region{Addr: 20, Data: abcd}
		if m := MakeMemory(in); len(m.inputs) != 3 || m.inputs[0].Addr != 10 {
			t.Fatalf("MakeMemory: %+v", m.inputs)
		}
	}); n != 0 {
		t.Errorf("MakeMemory of three separate regions: %.0f allocations, want none", n)
	}
}

// FuzzMemory throws arbitrary regions and reads at Memory: errors, never a
// panic.
func FuzzMemory(f *testing.F) {
	f.Add(uint64(0x1000), []byte("abc\x00"), uint64(0x1000), 4, uint64(0x1002), 2)
	f.Add(^uint64(0)-2, []byte("abcdef"), ^uint64(0), 8, uint64(0), 1)
	f.Fuzz(func(t *testing.T, addr uint64, data []byte, raddr uint64, n int, vaddr uint64, cnt int) {
		m := NewMemory([]Region{{Addr: addr, Data: data}, {Addr: addr + 3, Data: data}})
		m.CopyIn(raddr, n%(1<<20))
		m.CopyInString(raddr, PathMax)
		m.CopyInStringVector(vaddr, 64, 4096)
		m.CopyInIovecs(vaddr, cnt%2048)
		m.CopyOut(raddr, data)
	})
}

func TestFormat(t *testing.T) {
	inputs := []Region{{Addr: 0x1000, Data: []byte("/etc/passwd\x00")}, {Addr: 0x2000, Data: []byte("hello\n")}}
	tests := []struct {
		sysno uintptr
		args  [6]uint64
		want  string
	}{
		{unix.SYS_OPENAT, [6]uint64{uint64(0xffffffffffffff9c), 0x1000, 0, 0}, `openat(AT_FDCWD, "/etc/passwd", 0x0, 0x0)`},
		{unix.SYS_WRITE, [6]uint64{1, 0x2000, 6}, `write(0x1, "hello\n", 0x6)`},
		{unix.SYS_WRITE, [6]uint64{1, 0x2000, 3}, `write(0x1, "hel", 0x3)`},
		{unix.SYS_GETPPID, [6]uint64{}, `getppid()`},
		{unix.SYS_OPEN, [6]uint64{0x9000, 0, 0}, `open(0x9000, 0x0, 0x0)`},
		{1000, [6]uint64{1, 2, 3, 4, 5, 6}, `syscall_1000(0x1, 0x2, 0x3, 0x4, 0x5, 0x6)`},
	}
	for _, tc := range tests {
		if got := Format(tc.sysno, tc.args, inputs); got != tc.want {
			t.Errorf("Format(%d) = %s, want %s", tc.sysno, got, tc.want)
		}
	}
}

// TestCopyInView: CopyInView returns the call's own input bytes, not a
// copy (no allocation), unless the call wrote some of them itself (then
// a copy with those writes, as CopyIn); its errors are CopyIn's.
func TestCopyInView(t *testing.T) {
	for _, tc := range []struct {
		name     string
		output   *Region
		want     string
		wantView bool
	}{
		{"untouched", nil, "hello world", true},
		{"written elsewhere", &Region{Addr: 0x3100, Data: []byte("x")}, "hello world", true},
		{"written inside", &Region{Addr: 0x3006, Data: []byte("WORLD")}, "hello WORLD", false},
		{"written across the start", &Region{Addr: 0x2fff, Data: []byte("zH")}, "Hello world", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := []byte("hello world")
			m := NewMemory([]Region{{Addr: 0x3000, Data: in}})
			if tc.output != nil {
				if err := m.CopyOut(tc.output.Addr, tc.output.Data); err != nil {
					t.Fatal(err)
				}
			}
			b, err := m.CopyInView(0x3000, len(in))
			if err != nil || string(b) != tc.want {
				t.Fatalf("CopyInView = %q, %v; want %q", b, err, tc.want)
			}
			if view := &b[0] == &in[0]; view != tc.wantView {
				t.Errorf("the input's own bytes: %v, want %v", view, tc.wantView)
			}
			if tc.wantView && cap(b) != len(b) {
				t.Errorf("capacity %d past the %d bytes asked: an append would write into the input", cap(b), len(b))
			}
			if tc.wantView {
				if allocs := testing.AllocsPerRun(10, func() { m.CopyInView(0x3000, len(in)) }); allocs != 0 {
					t.Errorf("%.1f allocations per CopyInView, want 0", allocs)
				}
			}
			if _, err := m.CopyInView(0x3000, len(in)+1); err != unix.EFAULT {
				t.Errorf("past the input: %v, want EFAULT", err)
			}
		})
	}
}

// TestMqNotifyCookie: mq_notify carries SIGEV_THREAD's 32-byte cookie at
// sigev_value, and only for SIGEV_THREAD.
func TestMqNotifyCookie(t *testing.T) {
	sev := func(notify uint32) []byte {
		b := make([]byte, sizeofSigevent)
		binary.LittleEndian.PutUint64(b, 0x7000)
		binary.LittleEndian.PutUint32(b[12:], notify)
		return b
	}
	cookie := bytes.Repeat([]byte{0xab}, notifyCookieLen)
	for _, tc := range []struct {
		name   string
		notify uint32
		want   bool
	}{{"SIGEV_THREAD", sigevThread, true}, {"SIGEV_SIGNAL", 0, false}, {"SIGEV_NONE", 1, false}} {
		app := fakeApp{0x6000: sev(tc.notify), 0x7000: cookie}
		m := NewMemory(Inputs(unix.SYS_MQ_NOTIFY, [6]uint64{3, 0x6000}, app))
		if _, err := m.CopyIn(0x6000, sizeofSigevent); err != nil {
			t.Errorf("%s: sigevent: %v", tc.name, err)
		}
		b, err := m.CopyIn(0x7000, notifyCookieLen)
		if got := err == nil && bytes.Equal(b, cookie); got != tc.want {
			t.Errorf("%s: cookie %x, %v; carried %v, want %v", tc.name, b, err, got, tc.want)
		}
	}
	// An unmapped cookie is not carried: the server's copy faults.
	app := fakeApp{0x6000: sev(sigevThread)}
	m := NewMemory(Inputs(unix.SYS_MQ_NOTIFY, [6]uint64{3, 0x6000}, app))
	if _, err := m.CopyIn(0x7000, notifyCookieLen); err != unix.EFAULT {
		t.Errorf("unmapped cookie: %v, want EFAULT", err)
	}
}
