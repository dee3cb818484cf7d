package inotify

import (
	"bytes"
	"encoding/binary"
	"testing"

	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"

	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/fdesc/fdesctest"
)

type dentry uint64

func (d dentry) Ino() uint64 { return uint64(d) }

func TestWatches(t *testing.T) {
	var targets Targets
	if targets.Any() || targets.Target(5, false) != nil {
		t.Fatal("a new Targets has targets")
	}
	f, err := New(unix.O_NONBLOCK)
	if err != nil {
		t.Fatal(err)
	}
	defer f.DecRef()
	in := f.Impl.(*File)
	t5 := targets.Target(5, true)
	if !targets.Any() || targets.Target(5, false) != t5 {
		t.Fatal("Target(5, true) did not make inode 5's target")
	}
	for _, tc := range []struct {
		name    string
		ino     uint64
		mask    uint32
		wantWD  int32
		wantErr error
	}{
		{name: "first", ino: 5, mask: linux.IN_CREATE, wantWD: 1},
		{name: "same inode, MaskCreate", ino: 5, mask: linux.IN_DELETE | MaskCreate, wantErr: unix.EEXIST},
		{name: "same inode again", ino: 5, mask: linux.IN_DELETE, wantWD: 1},
		{name: "another inode, MaskCreate", ino: 6, mask: linux.IN_MODIFY | MaskCreate, wantWD: 2},
	} {
		wd, err := in.AddWatch(targets.Target(tc.ino, true), dentry(tc.ino), tc.mask)
		if wd != tc.wantWD || err != tc.wantErr {
			t.Errorf("%s: AddWatch = %d, %v; want %d, %v", tc.name, wd, err, tc.wantWD, tc.wantErr)
		}
	}
	ws := in.Watches()
	if len(ws) != 2 || ws[0].WD != 1 || ws[0].Mask != linux.IN_DELETE || ws[0].Dentry.Ino() != 5 ||
		ws[1].WD != 2 || ws[1].Mask != linux.IN_MODIFY || ws[1].Dentry.Ino() != 6 {
		t.Errorf("Watches() = %+v", ws)
	}
	if got, want := string(in.FDInfo()), "inotify wd:1 ino:5 sdev:0 mask:200 ignored_mask:0\ninotify wd:2 ino:6 sdev:0 mask:2 ignored_mask:0\n"; got != want {
		t.Errorf("FDInfo() = %q, want %q", got, want)
	}

	// An event on a watched inode is read; none is EAGAIN.
	c := &fdesctest.Call{}
	if _, err := in.Read(c, f, 4096, 0); err != unix.EAGAIN {
		t.Errorf("Read with no event = %v, want EAGAIN", err)
	}
	t5.Notify("x", linux.IN_DELETE, 0, false)
	if n, err := in.Queued(); err != nil || n == 0 {
		t.Errorf("Queued() = %d, %v", n, err)
	}
	b, err := in.Read(c, f, 4096, 0)
	if err != nil || len(b) < 16 || int32(binary.NativeEndian.Uint32(b)) != 1 ||
		binary.NativeEndian.Uint32(b[4:]) != linux.IN_DELETE || !bytes.HasPrefix(b[16:], []byte("x")) {
		t.Errorf("Read = %q, %v", b, err)
	}

	// Removing inode 6's only watch drops its target.
	if err := in.RmWatch(2); err != nil {
		t.Errorf("RmWatch(2) = %v", err)
	}
	if err := in.RmWatch(2); err != unix.EINVAL {
		t.Errorf("RmWatch(2) again = %v, want EINVAL", err)
	}
	if targets.Target(6, false) != nil {
		t.Error("inode 6's target outlived its last watch")
	}
	if len(in.Watches()) != 1 {
		t.Errorf("Watches() after RmWatch = %+v", in.Watches())
	}

	// A restored instance has the same descriptors.
	g, err := New(0)
	if err != nil {
		t.Fatal(err)
	}
	defer g.DecRef()
	rin := g.Impl.(*File)
	if err := rin.Restore([]Watch{{WD: 3, Mask: linux.IN_ATTRIB, Dentry: dentry(5), Target: t5}}); err != nil {
		t.Fatal(err)
	}
	if ws := rin.Watches(); len(ws) != 1 || ws[0].WD != 3 || ws[0].Dentry.Ino() != 5 {
		t.Errorf("restored Watches() = %+v", ws)
	}
}
