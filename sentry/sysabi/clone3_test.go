package sysabi

import (
	"encoding/binary"
	"testing"

	"golang.org/x/sys/unix"
)

// readOnlyApp is fakeApp whose memory at readOnly may be read but not
// written.
type readOnlyApp struct {
	fakeApp
	readOnly uint64
}

func (r readOnlyApp) Writable(addr uint64, n int) bool {
	_, ok := r.find(addr, n)
	return ok && addr != r.readOnly
}

func encodeCloneArgs(a CloneArgs, size int) []byte {
	b := make([]byte, max(size, SizeofCloneArgs))
	for i, v := range []uint64{a.Flags, a.Pidfd, a.ChildTID, a.ParentTID, a.ExitSignal,
		a.Stack, a.StackSize, a.TLS, a.SetTID, a.SetTIDSize, a.Cgroup} {
		binary.LittleEndian.PutUint64(b[8*i:], v)
	}
	return b[:size]
}

// TestClone3Inputs checks what the client sends with a clone3: the
// struct of the size argument (none when the size is refused first),
// the set_tid array, and the pidfd's 4 bytes only where they may be
// written; and that the struct decodes back.
func TestClone3Inputs(t *testing.T) {
	a := CloneArgs{Flags: unix.CLONE_PIDFD | unix.CLONE_VM, Pidfd: 0x3000, ChildTID: 0x3010, ParentTID: 0x3020,
		ExitSignal: 17, Stack: 0x8000, StackSize: 0x1000, TLS: 0x9000, SetTID: 0x4000, SetTIDSize: 1}
	app := readOnlyApp{fakeApp: fakeApp{
		0x1000: encodeCloneArgs(a, 96),
		0x3000: make([]byte, 0x40),
		0x4000: {0x88, 0x13, 0, 0},
	}}
	regions := func(size uint64) map[uint64]int {
		got := map[uint64]int{}
		for _, r := range Inputs(unix.SYS_CLONE3, [6]uint64{0x1000, size}, app) {
			got[r.Addr] = len(r.Data)
		}
		return got
	}
	want := map[uint64]int{0x1000: 96, 0x3000: 4, 0x4000: 4}
	if got := regions(96); len(got) != len(want) || got[0x1000] != 96 || got[0x3000] != 4 || got[0x4000] != 4 {
		t.Errorf("clone3 inputs %v, want %v", got, want)
	}
	for _, size := range []uint64{63, 4097} {
		if got := regions(size); len(got) != 0 {
			t.Errorf("clone3 inputs of size %d: %v, want none", size, got)
		}
	}
	app.readOnly = 0x3000
	if got := regions(88); got[0x3000] != 0 || got[0x1000] != 88 {
		t.Errorf("clone3 inputs with a read-only pidfd: %v, want the struct without the pidfd", got)
	}
	// clone's pidfd goes to parent_tid.
	if got := Inputs(unix.SYS_CLONE, [6]uint64{unix.CLONE_PIDFD | 17, 0, 0x3010}, app); len(got) != 1 || got[0].Addr != 0x3010 {
		t.Errorf("clone(CLONE_PIDFD) inputs %v, want parent_tid's 4 bytes", got)
	}
	if got := Inputs(unix.SYS_CLONE, [6]uint64{unix.CLONE_PIDFD | 17, 0, 0x3000}, app); len(got) != 0 {
		t.Errorf("clone(CLONE_PIDFD) inputs at a read-only parent_tid %v, want none", got)
	}

	got, ok := CloneArgsOf(Inputs(unix.SYS_CLONE3, [6]uint64{0x1000, 96}, app), 0x1000, 96)
	if !ok || got != a {
		t.Errorf("CloneArgsOf = %+v, %v, want %+v", got, ok, a)
	}
	if got.ChildStack() != 0x9000 || got.LegacyFlags() != unix.CLONE_PIDFD|unix.CLONE_VM|17 {
		t.Errorf("child stack %#x, legacy flags %#x", got.ChildStack(), got.LegacyFlags())
	}
	if _, err := DecodeCloneArgs(append(encodeCloneArgs(a, 88), 0, 1)); err != unix.E2BIG {
		t.Errorf("DecodeCloneArgs with a nonzero extra byte: %v, want E2BIG", err)
	}
}
