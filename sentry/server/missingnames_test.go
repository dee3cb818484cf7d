package server

import (
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
)

// TestMissingInNames checks which ENOENT answers name the directory the
// name was missing in and its complete names (PathLease.missing_in): a
// walk of plain names, no symbolic link, in a small gofer directory, to
// a client that asked for complete names; and that another client's
// creation there revokes the lease that answer holds.
func TestMissingInNames(t *testing.T) {
	e := started(t)
	l := secondClient(t, e, &sentrypb.Hello{PathLeases: true, CompleteNames: true})
	dir := filepath.Join(e.root, "tmp", "mi")
	big := filepath.Join(e.root, "tmp", "mibig")
	for _, d := range []string{filepath.Join(dir, "sub"), big} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "a"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/tmp/mi", filepath.Join(dir, "self")); err != nil {
		t.Fatal(err)
	}
	for i := 0; i <= maxMissingInNames; i++ {
		if err := os.WriteFile(filepath.Join(big, fmt.Sprint(i)), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name, path string
		// want is the prefix missing_in names (-1: none).
		want int
	}{
		{"a missing name", "/tmp/mi/x", len("/tmp/mi")},
		{"under a missing name", "/tmp/mi/x/y", len("/tmp/mi")},
		{"in a subdirectory", "/tmp/mi/sub/x", len("/tmp/mi/sub")},
		{"after a symlink", "/tmp/mi/self/x", -1},
		{"after dot dot", "/tmp/mi/sub/../x", len("/tmp/mi/sub/..")},
		{"after dot", "/tmp/mi/./x", len("/tmp/mi/.")},
		{"a trailing slash", "/tmp/mi/x/", len("/tmp/mi")},
		{"in the root", "/nosuchtop/x", 1},
		{"in the root after dot dot", "/tmp/../nosuchtop", len("/tmp/..")},
		{"in a big directory", "/tmp/mibig/x", -1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sb := l.mem.zeros(144)
			for _, r := range []*sentrypb.Reply{
				pathSys(l, unix.SYS_NEWFSTATAT, uint64(atFDCWD64), l.mem.str(tc.path), sb, 0),
				pathSys(l, unix.SYS_OPENAT, uint64(atFDCWD64), l.mem.str(tc.path), unix.O_RDONLY, 0),
				pathSys(l, unix.SYS_ACCESS, l.mem.str(tc.path), unix.F_OK),
			} {
				if unix.Errno(r.Errno) != unix.ENOENT || r.PathLease == nil {
					t.Fatalf("errno %v, lease %v; want ENOENT and a lease", unix.Errno(r.Errno), r.PathLease)
				}
				mi := r.PathLease.MissingIn
				if tc.want < 0 {
					if mi != nil {
						t.Errorf("missing_in %v, want none", mi)
					}
					continue
				}
				if mi == nil || int(mi.Prefix) != tc.want {
					t.Fatalf("missing_in %v, want prefix %d", mi, tc.want)
				}
				names, err := os.ReadDir(filepath.Join(e.root, tc.path[:tc.want]))
				if err != nil {
					t.Fatal(err)
				}
				want := map[string]bool{}
				for _, n := range names {
					want[n.Name()] = true
				}
				if filepath.Clean(tc.path[:tc.want]) == "/" {
					want["dev"], want["proc"] = true, true
				}
				got := map[string]bool{}
				for _, n := range mi.Names {
					got[string(n)] = true
				}
				if !maps.Equal(got, want) {
					t.Errorf("names %v, want %v", slices.Sorted(maps.Keys(got)), slices.Sorted(maps.Keys(want)))
				}
			}
		})
	}
	t.Run("not asked", func(t *testing.T) {
		n := secondClient(t, e, &sentrypb.Hello{PathLeases: true})
		sb := n.mem.zeros(144)
		r := pathSys(n, unix.SYS_NEWFSTATAT, uint64(atFDCWD64), n.mem.str("/tmp/mi/x"), sb, 0)
		if r.PathLease == nil || r.PathLease.MissingIn != nil {
			t.Errorf("a client that did not ask for complete names got missing_in %v", r.PathLease.MissingIn)
		}
	})
	t.Run("revoked by a creation", func(t *testing.T) {
		sb := l.mem.zeros(144)
		r := pathSys(l, unix.SYS_NEWFSTATAT, uint64(atFDCWD64), l.mem.str("/tmp/mi/z"), sb, 0)
		if r.PathLease.GetMissingIn() == nil {
			t.Fatalf("no missing_in: %v", r.PathLease)
		}
		done := make(chan *sentrypb.Reply, 1)
		go func() {
			done <- e.sys(1, unix.SYS_OPENAT, uint64(atFDCWD64), e.mem.str("/tmp/mi/w"), unix.O_CREAT|unix.O_EXCL|unix.O_WRONLY, 0o644)
		}()
		p := l.waitRevokeOf(r.PathLease.Ids)
		l.ackRevoke(t, p)
		if r := <-done; r.Errno != 0 {
			t.Errorf("the other client's creation: %v", unix.Errno(r.Errno))
		}
	})
}
