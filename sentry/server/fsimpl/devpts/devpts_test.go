package devpts

import (
	"slices"
	"testing"

	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"

	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/fdesc"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/fdesc/fdesctest"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/pty"
)

// kernel records job control checks and signals, and refuses access
// with deny.
type kernel struct {
	checks  []int
	deny    error
	signals []linux.Signal
	pgid    int32
}

func (k *kernel) JobControlAccess(_ fdesc.Call, _, _ int32, sig int) error {
	k.checks = append(k.checks, sig)
	return k.deny
}

func (k *kernel) SignalGroup(pgid int32, sigs []linux.Signal) {
	k.pgid = pgid
	k.signals = append(k.signals, sigs...)
}

func newPair(t *testing.T, k *kernel) (master, slave *fdesc.File) {
	t.Helper()
	var tab pty.Table
	term, err := tab.New()
	if err != nil {
		t.Fatal(err)
	}
	term.SetLocked(false)
	if err := term.OpenSlave(); err != nil {
		t.Fatal(err)
	}
	master = fdesc.NewFile(New(k, term, true, 11, 22), nil, nil, unix.O_RDWR|unix.O_NONBLOCK)
	slave = fdesc.NewFile(New(k, term, false, 33, 22), nil, nil, unix.O_RDWR|unix.O_NONBLOCK)
	t.Cleanup(func() { slave.DecRef(); master.DecRef() })
	return master, slave
}

func TestReadWrite(t *testing.T) {
	k := &kernel{}
	m, s := newPair(t, k)
	c := &fdesctest.Call{}
	if _, err := s.Impl.Read(c, s, 16, 0); err != unix.EAGAIN {
		t.Errorf("slave read of nothing = %v, want EAGAIN", err)
	}
	if n, err := m.Impl.Write(c, m, []byte("hi\n"), 0); n != 3 || err != nil {
		t.Fatalf("master write = %d, %v", n, err)
	}
	if got := s.Impl.(*File).Readable(); got != 3 {
		t.Errorf("slave Readable() = %d, want 3", got)
	}
	if ev, _ := s.Impl.Readiness(s); ev&unix.POLLIN == 0 {
		t.Errorf("slave readiness %#x, want readable", ev)
	}
	b, err := s.Impl.Read(c, s, 16, 0)
	if err != nil || string(b) != "hi\n" {
		t.Errorf("slave read = %q, %v", b, err)
	}
	if !slices.Equal(k.checks, []int{int(unix.SIGTTIN), int(unix.SIGTTIN)}) {
		t.Errorf("job control checks %v, want SIGTTIN per slave read", k.checks)
	}
	// Refused by job control: the read does not happen.
	k.deny = unix.EIO
	m.Impl.Write(c, m, []byte("x\n"), 0)
	if _, err := s.Impl.Read(c, s, 16, 0); err != unix.EIO {
		t.Errorf("refused read = %v, want EIO", err)
	}
	// A slave write is checked only with TOSTOP.
	k.checks, k.deny = nil, nil
	s.Impl.Write(c, s, []byte("out"), 0)
	if len(k.checks) != 0 {
		t.Errorf("a write without TOSTOP was checked: %v", k.checks)
	}
}

func TestSignals(t *testing.T) {
	k := &kernel{}
	m, s := newPair(t, k)
	term := m.Impl.(*File).Terminal()
	c := &fdesctest.Call{}
	m.Impl.Write(c, m, []byte{3}, 0) // ^C without a foreground group
	if len(k.signals) != 0 {
		t.Errorf("signals without a foreground group: %v", k.signals)
	}
	term.SetSession(7, 8)
	m.Impl.Write(c, m, []byte{3}, 0)
	if k.pgid != 8 || !slices.Equal(k.signals, []linux.Signal{linux.SIGINT}) {
		t.Errorf("^C sent %v to %d, want SIGINT to 8", k.signals, k.pgid)
	}
	if !m.Impl.(*File).Master() || s.Impl.(*File).Master() {
		t.Error("Master() is wrong")
	}
}

func TestStat(t *testing.T) {
	m, s := newPair(t, &kernel{})
	for _, tc := range []struct {
		f         *fdesc.File
		mode, ino uint64
		rdev      uint64
		dev       uint64
	}{
		{m, unix.S_IFCHR | 0666, 11, 5<<8 | PtmxMinor, 22},
		{s, unix.S_IFCHR | 0620, 33, unix.Mkdev(PtsMajor, uint32(s.Impl.(*File).Terminal().Index)), 22},
	} {
		st, err := tc.f.Impl.Stat(nil)
		if err != nil || uint64(st.Mode) != tc.mode || st.Ino != tc.ino || st.Rdev != tc.rdev || st.Dev != tc.dev {
			t.Errorf("Stat = %+v, %v; want mode %#o ino %d rdev %#x dev %d", st, err, tc.mode, tc.ino, tc.rdev, tc.dev)
		}
	}
}
