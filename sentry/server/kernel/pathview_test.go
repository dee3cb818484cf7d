package kernel

import (
	"testing"

	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/auth"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/fdesc"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/vfs"
)

func TestPathViewSame(t *testing.T) {
	cwd, other := &vfs.Dentry{}, &vfs.Dentry{}
	dir := &fdesc.File{}
	base := PathView{Creds: auth.Creds{RUID: 1, EUID: 1, FSUID: 1, Groups: []uint32{5, 6}}, Cwd: cwd}
	for _, tc := range []struct {
		name   string
		change func(v *PathView)
		same   bool
	}{
		{"unchanged", func(*PathView) {}, true},
		{"walk notes differ", func(v *PathView) { v.Found = []*vfs.Dentry{other}; v.Final = other }, true},
		{"groups copied", func(v *PathView) { v.Creds.Groups = []uint32{5, 6} }, true},
		{"other cwd", func(v *PathView) { v.Cwd = other }, false},
		{"dirfd", func(v *PathView) { v.Dir = dir }, false},
		{"euid", func(v *PathView) { v.Creds.EUID = 0 }, false},
		{"fsgid", func(v *PathView) { v.Creds.FSGID = 9 }, false},
		{"caps", func(v *PathView) { v.Creds.Caps.Effective = 1 }, false},
		{"groups", func(v *PathView) { v.Creds.Groups = []uint32{5} }, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := base
			w.Creds.Groups = append([]uint32(nil), base.Creds.Groups...)
			tc.change(&w)
			if got := base.Same(w); got != tc.same {
				t.Errorf("Same = %v, want %v", got, tc.same)
			}
		})
	}
}
