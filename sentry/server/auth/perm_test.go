package auth

import (
	"testing"

	"golang.org/x/sys/unix"
)

func user(uid, gid uint32, groups ...uint32) Creds {
	return Creds{uid, uid, uid, uid, gid, gid, gid, gid, groups, InitialCaps(uid)}
}

func TestPermits(t *testing.T) {
	reg := func(mode, uid, gid uint32) FileAttrs { return FileAttrs{unix.S_IFREG | mode, uid, gid} }
	dir := func(mode, uid, gid uint32) FileAttrs { return FileAttrs{unix.S_IFDIR | mode, uid, gid} }
	for _, tc := range []struct {
		name string
		cr   Creds
		a    FileAttrs
		mask uint32
		want bool
	}{
		{"owner reads 0600", user(1000, 1000), reg(0600, 1000, 0), MayRead, true},
		{"other reads root's 0600", user(1000, 1000), reg(0600, 0, 0), MayRead, false},
		{"other writes root's 0644", user(1000, 1000), reg(0644, 0, 0), MayWrite, false},
		{"other reads 0644", user(1000, 1000), reg(0644, 0, 0), MayRead, true},
		{"owner class decides, not group", user(1000, 1000), reg(0070, 1000, 1000), MayRead, false},
		{"group class", user(1000, 1000), reg(0040, 0, 1000), MayRead, true},
		{"supplementary group", user(1000, 1000, 5, 7), reg(0040, 0, 7), MayRead, true},
		{"group class decides, not other", user(1000, 7), reg(0704, 0, 7), MayRead, false},
		{"read+write needs both", user(1000, 1000), reg(0400, 1000, 0), MayRead | MayWrite, false},
		{"root reads 0000", user(0, 0), reg(0000, 1000, 1000), MayRead | MayWrite, true},
		{"root executes no-x file", user(0, 0), reg(0644, 0, 0), MayExec, false},
		{"root executes 0100 file", user(0, 0), reg(0100, 1000, 0), MayExec, true},
		{"root searches 0000 dir", user(0, 0), dir(0000, 1000, 0), MayExec, true},
		{"other searches 0700 dir", user(1000, 1000), dir(0700, 0, 0), MayExec, false},
		{"euid 0 but fsuid 1000", Creds{0, 0, 0, 1000, 0, 0, 0, 0, nil, CapSets{}}, reg(0600, 0, 0), MayRead, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.cr.Permits(tc.a, tc.mask); got != tc.want {
				t.Errorf("permits = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestOwnershipRules(t *testing.T) {
	u := user(1000, 1000, 2000)
	file := FileAttrs{unix.S_IFREG | 0644, 1000, 1000}
	rootFile := FileAttrs{unix.S_IFREG | 0644, 0, 0}
	sticky := FileAttrs{unix.S_IFDIR | 01777, 0, 0}
	for _, tc := range []struct {
		name string
		got  bool
		want bool
	}{
		{"delete own file in sticky dir", u.MayDelete(sticky, file), true},
		{"delete root's file in sticky dir", u.MayDelete(sticky, rootFile), false},
		{"delete in sticky dir one owns", u.MayDelete(FileAttrs{unix.S_IFDIR | 01777, 1000, 0}, rootFile), true},
		{"root deletes in sticky dir", user(0, 0).MayDelete(sticky, file), true},
		{"delete in plain dir", u.MayDelete(FileAttrs{unix.S_IFDIR | 0777, 0, 0}, rootFile), true},
		{"chown own file to self", u.MayChown(file, 1000, -1), true},
		{"chown own file away", u.MayChown(file, 0, -1), false},
		{"chgrp own file to a member group", u.MayChown(file, -1, 2000), true},
		{"chgrp own file to another group", u.MayChown(file, -1, 3000), false},
		{"chgrp another's file to its own group", u.MayChown(rootFile, -1, 0), false},
		{"root chowns anything", user(0, 0).MayChown(file, 5, 5), true},
		{"hardlink own file", u.MayHardlink(file), true},
		{"hardlink root's read-only file", u.MayHardlink(rootFile), false},
		{"hardlink root's 0666 file", u.MayHardlink(FileAttrs{unix.S_IFREG | 0666, 0, 0}), true},
		{"hardlink root's 0666 setuid file", u.MayHardlink(FileAttrs{unix.S_IFREG | 04666, 0, 0}), false},
		{"owner or capable: owner", u.OwnerOrCapable(file), true},
		{"owner or capable: other", u.OwnerOrCapable(rootFile), false},
	} {
		if tc.got != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, tc.got, tc.want)
		}
	}

	if m := u.ChmodMode(FileAttrs{unix.S_IFREG, 1000, 3000}, 02755); m != 0755 {
		t.Errorf("chmod g+s outside the group: mode %#o, want 0755", m)
	}
	if m := u.ChmodMode(FileAttrs{unix.S_IFREG, 1000, 2000}, 02755); m != 02755 {
		t.Errorf("chmod g+s in a supplementary group: mode %#o, want 02755", m)
	}
	for _, tc := range []struct {
		cr        Creds
		mode      uint32
		gid       uint32
		want      uint32
		wantClear bool
	}{
		{u, unix.S_IFREG | 04755, 1000, unix.S_IFREG | 0755, true},
		{u, unix.S_IFREG | 06755, 1000, unix.S_IFREG | 0755, true},
		{u, unix.S_IFREG | 02745, 2000, unix.S_IFREG | 02745, false}, // no g+x, in the group: mandatory-locking mark stays
		{u, unix.S_IFREG | 02745, 3000, unix.S_IFREG | 0745, true},   // no g+x, outside the group
		{u, unix.S_IFREG | 0755, 1000, unix.S_IFREG | 0755, false},
		{u, unix.S_IFDIR | 06755, 3000, unix.S_IFDIR | 06755, false},
		{user(0, 0), unix.S_IFREG | 06755, 0, unix.S_IFREG | 06755, false},
	} {
		if m, ch := tc.cr.KillPrivMode(FileAttrs{tc.mode, 0, tc.gid}); m != tc.want || ch != tc.wantClear {
			t.Errorf("killPrivMode(%#o, gid %d) by uid %d = %#o %v, want %#o %v", tc.mode, tc.gid, tc.cr.FSUID, m, ch, tc.want, tc.wantClear)
		}
	}
	// chown: set-user-ID goes even for root; set-group-ID with g+x, or
	// for a caller outside the group without CAP_FSETID; directories
	// keep both.
	for _, tc := range []struct {
		cr   Creds
		mode uint32
		gid  uint32
		want uint32
	}{
		{user(0, 0), unix.S_IFREG | 06755, 5, unix.S_IFREG | 0755},
		{user(0, 0), unix.S_IFREG | 06745, 5, unix.S_IFREG | 02745},
		{user(0, 0), unix.S_IFREG | 04700, 5, unix.S_IFREG | 0700},
		{user(0, 0), unix.S_IFDIR | 06755, 5, unix.S_IFDIR | 06755},
		{u, unix.S_IFREG | 02745, 2000, unix.S_IFREG | 02745},
		{u, unix.S_IFREG | 02745, 3000, unix.S_IFREG | 0745},
		{u, unix.S_IFREG | 0755, 3000, unix.S_IFREG | 0755},
	} {
		if m, ch := tc.cr.ChownMode(FileAttrs{tc.mode, 0, tc.gid}); m != tc.want || ch != (m != tc.mode) {
			t.Errorf("chownMode(%#o, gid %d) by uid %d = %#o %v, want %#o", tc.mode, tc.gid, tc.cr.FSUID, m, ch, tc.want)
		}
	}

	sgidDir := FileAttrs{unix.S_IFDIR | 02775, 0, 4000}
	if uid, gid, m := u.NewFileOwner(sgidDir, unix.S_IFDIR|0755); uid != 1000 || gid != 4000 || m != unix.S_IFDIR|02755 {
		t.Errorf("mkdir in setgid dir: %d:%d %#o", uid, gid, m)
	}
	if _, gid, m := u.NewFileOwner(sgidDir, unix.S_IFREG|02755); gid != 4000 || m != unix.S_IFREG|0755 {
		t.Errorf("create g+s file in setgid dir of a foreign group: gid %d mode %#o", gid, m)
	}
	if _, gid, m := u.NewFileOwner(FileAttrs{unix.S_IFDIR | 0777, 0, 4000}, unix.S_IFREG|0644); gid != 1000 || m != unix.S_IFREG|0644 {
		t.Errorf("create in plain dir: gid %d mode %#o", gid, m)
	}
}
