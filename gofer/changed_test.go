package gofer

import (
	"fmt"
	"os"
	"sort"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/runsc-decoupled/runsc-decoupled/proto/goferpb"
)

// TestChangedInodes checks that an unlink's and a rename's replies name
// the inodes whose attributes they changed (the server's read leases
// revoke those only). An unlink given the inode the sentry found at the
// name (found) names that one without a stat of its own, but for an open
// file's (its silly rename stats the name).
func TestChangedInodes(t *testing.T) {
	e := newEnv(t)
	ino := func(name string) string {
		fi, err := os.Lstat(e.host(name))
		if err != nil {
			t.Fatal(err)
		}
		st := fi.Sys().(*syscall.Stat_t)
		return fmt.Sprintf("%d/%d", st.Dev, st.Ino)
	}
	names := func(in []*goferpb.InodeID) []string {
		var out []string
		for _, i := range in {
			out = append(out, fmt.Sprintf("%d/%d", i.GetDev(), i.GetIno()))
		}
		sort.Strings(out)
		return out
	}
	for _, f := range []string{"a", "b", "c", "d", "e", "f", "g", "h"} {
		e.create(e.rootH, f, unix.O_WRONLY, 0o644)
	}
	inoA, inoB, inoC, inoD, inoF := ino("a"), ino("b"), ino("c"), ino("d"), ino("f")
	// found is another inode than the name's: the reply shows whose
	// word it took.
	found := &goferpb.InodeID{Dev: 1, Ino: 7}
	tests := []struct {
		name string
		call func() ([]*goferpb.InodeID, int32, error)
		want []string
	}{
		{"unlink", func() ([]*goferpb.InodeID, int32, error) {
			r, err := e.c.Unlink(e.ctx, &goferpb.UnlinkRequest{Dir: e.rootH, Name: []byte("a")})
			return r.GetChanged(), r.GetErrno(), err
		}, []string{inoA}},
		{"rename to a new name", func() ([]*goferpb.InodeID, int32, error) {
			r, err := e.c.Rename(e.ctx, &goferpb.RenameRequest{OldDir: e.rootH, OldName: []byte("b"), NewDir: e.rootH, NewName: []byte("b2")})
			return r.GetChanged(), r.GetErrno(), err
		}, []string{inoB}},
		{"rename over a file", func() ([]*goferpb.InodeID, int32, error) {
			r, err := e.c.Rename(e.ctx, &goferpb.RenameRequest{OldDir: e.rootH, OldName: []byte("c"), NewDir: e.rootH, NewName: []byte("d")})
			return r.GetChanged(), r.GetErrno(), err
		}, []string{inoC, inoD}},
		{"unlink with found", func() ([]*goferpb.InodeID, int32, error) {
			r, err := e.c.Unlink(e.ctx, &goferpb.UnlinkRequest{Dir: e.rootH, Name: []byte("e"), Found: found})
			return r.GetChanged(), r.GetErrno(), err
		}, []string{"1/7"}},
		{"unlink of an open file with found", func() ([]*goferpb.InodeID, int32, error) {
			r, err := e.c.Unlink(e.ctx, &goferpb.UnlinkRequest{Dir: e.rootH, Name: []byte("f"), Found: found, Open: true})
			return r.GetChanged(), r.GetErrno(), err
		}, []string{inoF}},
		{"unlink many with found", func() ([]*goferpb.InodeID, int32, error) {
			r, err := e.c.UnlinkMany(e.ctx, &goferpb.UnlinkManyRequest{Dirs: []uint64{e.rootH, e.rootH},
				Names: [][]byte{[]byte("g"), []byte("h")}, Found: []*goferpb.InodeID{found, {Dev: 1, Ino: 8}}})
			var changed []*goferpb.InodeID
			for _, u := range r.GetUnlinks() {
				changed = append(changed, u.GetChanged()...)
			}
			return changed, r.GetErrno(), err
		}, []string{"1/7", "1/8"}},
		{"unlink of a missing name", func() ([]*goferpb.InodeID, int32, error) {
			r, err := e.c.Unlink(e.ctx, &goferpb.UnlinkRequest{Dir: e.rootH, Name: []byte("missing")})
			return r.GetChanged(), r.GetErrno(), err
		}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			changed, _, err := tc.call()
			if err != nil {
				t.Fatal(err)
			}
			want := append([]string(nil), tc.want...)
			sort.Strings(want)
			if got := names(changed); fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("changed %v, want %v", got, want)
			}
		})
	}
}
